/*
 * config.c - the settings table and the loader that fills a PdConfig from
 * defaults, prodata.conf, PRODATA_* variables and the command line, in that
 * order. The file format is "name = value" lines with # comments; values may
 * be double-quoted. Unknown names and bad values are collected, not stopped
 * at, so one run shows every mistake with its file:line. A password may live
 * in the file or the environment (or .pgpass), never on the command line,
 * where any user of the machine can read it in the process list.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prodata/db.h"
#include "prodata/strbuf.h"

typedef enum SettingType
{
    SETTING_STRING,
    SETTING_PATH,
    SETTING_INT
} SettingType;

typedef struct Setting
{
    const char *name;
    SettingType type;
    size_t offset;
    const char *default_value;
    int min_value;
    int max_value;
    bool may_hold_secret;
    const char *description;
} Setting;

static const Setting settings[] = {
    {"models", SETTING_PATH, offsetof(PdConfig, models), "models.pdm", 0, 0, false, "the model file"},
    {"migrations", SETTING_PATH, offsetof(PdConfig, migrations), "migrations", 0, 0, false,
     "the folder of migration files"},
    {"database", SETTING_STRING, offsetof(PdConfig, database), "", 0, 0, true,
     "libpq conninfo or URI; empty uses PGHOST, PGPORT, PGDATABASE, PGUSER and ~/.pgpass"},
    {"lock_timeout_ms", SETTING_INT, offsetof(PdConfig, lock_timeout_ms), "5000", 1, 600000, false,
     "how long one migration step may wait for a table lock before it is retried"},
    {"lock_retries", SETTING_INT, offsetof(PdConfig, lock_retries), "3", 0, 100, false,
     "how often a step that timed out on a lock is retried, with backoff"},
    {"lock_wait_ms", SETTING_INT, offsetof(PdConfig, lock_wait_ms), "60000", 1, 3600000, false,
     "how long migrate waits for another migrate on the same database to finish"},
};
#define SETTING_COUNT (sizeof(settings) / sizeof(settings[0]))

static const Setting *
find_setting(const char *name, size_t length)
{
    for (size_t i = 0; i < SETTING_COUNT; i++)
        if (strlen(settings[i].name) == length && strncmp(settings[i].name, name, length) == 0)
            return &settings[i];
    return NULL;
}

bool
pd_config_is_setting(const char *name)
{
    return find_setting(name, strlen(name)) != NULL;
}

typedef struct Problems
{
    PdStrbuf list;
    int count;
    char first[768];
} Problems;

static void problem(Problems *problems, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
problem(Problems *problems, const char *where, const char *fmt, ...)
{
    char text[384];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    if (problems->count == 0)
        snprintf(problems->first, sizeof(problems->first), "%s: %s", where, text);
    pd_strbuf_appendf(&problems->list, "%s%s: %s", problems->count ? "\n" : "", where, text);
    problems->count++;
}

/* Stores a value for a setting; base_dir resolves relative paths (NULL: as given). */
static void
assign(PdArena *arena, PdConfig *config, const Setting *setting, const char *value, const char *base_dir,
       const char *where, Problems *problems)
{
    char *field = (char *)config + setting->offset;
    if (setting->type == SETTING_INT)
    {
        char *end;
        errno = 0;
        long number = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || number < setting->min_value ||
            number > setting->max_value)
        {
            problem(problems, where, "%s must be a whole number from %d to %d, not \"%s\"", setting->name,
                    setting->min_value, setting->max_value, value);
            return;
        }
        *(int *)field = (int)number;
        return;
    }
    const char *stored = value;
    if (setting->type == SETTING_PATH && base_dir != NULL && value[0] != '/' && value[0] != '\0')
        stored = pd_arena_sprintf(arena, "%s/%s", base_dir, value);
    else
        stored = pd_arena_strdup(arena, value);
    *(const char **)field = stored;
}

static char *
trim(char *text)
{
    while (isspace((unsigned char)*text))
        text++;
    size_t length = strlen(text);
    while (length > 0 && isspace((unsigned char)text[length - 1]))
        text[--length] = '\0';
    return text;
}

/* Parses one "name = value" line; problems name path:line. */
static void
read_line(PdArena *arena, PdConfig *config, char *line, const char *path, int line_number,
          const char *base_dir, Problems *problems)
{
    char where[300];
    snprintf(where, sizeof(where), "%s:%d", path, line_number);
    char *content = trim(line);
    if (*content == '\0' || *content == '#')
        return;
    char *equals = strchr(content, '=');
    if (equals == NULL)
    {
        /* The line is not echoed: a mistyped line may be a connection string with a password. */
        problem(problems, where, "expected \"name = value\"");
        return;
    }
    *equals = '\0';
    char *name = trim(content);
    char *value = trim(equals + 1);
    if (value[0] == '"')
    {
        char *closing = strchr(value + 1, '"');
        char *rest = closing != NULL ? trim(closing + 1) : NULL;
        if (closing == NULL || (*rest != '\0' && *rest != '#'))
        {
            problem(problems, where,
                    closing == NULL ? "%s: unterminated quoted value"
                                    : "%s: unexpected text after the quoted value",
                    name);
            return;
        }
        *closing = '\0';
        value++;
    }
    else
    {
        char *comment = strchr(value, '#');
        if (comment != NULL)
        {
            *comment = '\0';
            value = trim(value);
        }
    }
    const Setting *setting = find_setting(name, strlen(name));
    if (setting == NULL)
    {
        problem(problems, where, "unknown setting \"%s\"", name);
        return;
    }
    assign(arena, config, setting, value, base_dir, where, problems);
}

static bool
read_file(PdArena *arena, PdConfig *config, const char *path, Problems *problems, PdError *err)
{
    FILE *file = fopen(path, "r");
    struct stat info;
    if (file != NULL && (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)))
    {
        fclose(file);
        file = NULL;
        errno = EISDIR;
    }
    if (file == NULL)
    {
        pd_error_set(err, PD_ERR_IO, "could not read configuration file %s", path);
        return pd_error_detail(err, "%s.", errno == EISDIR ? "It is not a regular file" : strerror(errno));
    }
    char *base_dir = pd_arena_strdup(arena, path);
    char *slash = base_dir ? strrchr(base_dir, '/') : NULL;
    if (slash != NULL)
        *slash = '\0';
    else
        base_dir = NULL;
    char *line = NULL;
    size_t capacity = 0;
    int line_number = 0;
    errno = 0;
    while (getline(&line, &capacity, file) != -1)
        read_line(arena, config, line, path, ++line_number, base_dir, problems);
    bool is_read = !ferror(file);
    free(line);
    fclose(file);
    if (!is_read)
        return pd_error_set(err, PD_ERR_IO, "could not read configuration file %s", path);
    config->config_file = pd_arena_strdup(arena, path);
    return true;
}

static void
read_environment(PdArena *arena, PdConfig *config, Problems *problems)
{
    for (size_t i = 0; i < SETTING_COUNT; i++)
    {
        char variable[64] = "PRODATA_";
        for (size_t c = 0; settings[i].name[c] && c + 9 < sizeof(variable); c++)
            variable[8 + c] = (char)toupper((unsigned char)settings[i].name[c]);
        const char *value = getenv(variable);
        if (value != NULL)
            assign(arena, config, &settings[i], value, NULL, variable, problems);
    }
}

/* All problems in the detail, whole lines only; what does not fit is counted. */
static void
describe_problems(PdError *err, Problems *problems)
{
    const char *list = pd_strbuf_text(&problems->list);
    int shown = 0;
    size_t used = (size_t)snprintf(err->detail, sizeof(err->detail),
                                   "%d problems in the configuration:", problems->count);
    for (const char *line = list; line != NULL && *line != '\0'; shown++)
    {
        const char *end = strchr(line, '\n');
        size_t length = end != NULL ? (size_t)(end - line) : strlen(line);
        size_t reserve = 32; /* room for "... and N more" */
        if (used + 1 + length + reserve >= sizeof(err->detail))
            break;
        used += (size_t)snprintf(err->detail + used, sizeof(err->detail) - used, "\n%.*s", (int)length, line);
        line = end != NULL ? end + 1 : NULL;
    }
    if (shown < problems->count)
        snprintf(err->detail + used, sizeof(err->detail) - used, "\n... and %d more",
                 problems->count - shown);
}

bool
pd_config_load(PdArena *arena, const char *config_path, const PdConfigOverride *overrides, int override_count,
               PdConfig *config, PdError *err)
{
    Problems problems = {.count = 0};
    pd_strbuf_init(&problems.list, arena);
    memset(config, 0, sizeof(*config));
    for (size_t i = 0; i < SETTING_COUNT; i++)
        assign(arena, config, &settings[i], settings[i].default_value, NULL, "default", &problems);

    if (config_path == NULL)
        config_path = getenv("PRODATA_CONFIG");
    if (config_path == NULL && access("prodata.conf", F_OK) == 0)
        config_path = "prodata.conf";
    if (config_path != NULL && !read_file(arena, config, config_path, &problems, err))
        return false;
    read_environment(arena, config, &problems);
    for (int i = 0; i < override_count; i++)
    {
        const Setting *setting = find_setting(overrides[i].name, strlen(overrides[i].name));
        char where[80];
        snprintf(where, sizeof(where), "--%s", overrides[i].name);
        if (setting == NULL)
            problem(&problems, where, "unknown setting");
        else if (setting->may_hold_secret && !pd_db_is_valid_conninfo(overrides[i].value))
            problem(&problems, where, "not a valid connection string (not shown: it may hold a password)");
        else if (setting->may_hold_secret && pd_db_conninfo_has_password(overrides[i].value))
            problem(&problems, where,
                    "a password on the command line is visible to every user of the machine; put it in "
                    "~/.pgpass, PGPASSWORD, PRODATA_DATABASE or prodata.conf");
        else
            assign(arena, config, setting, overrides[i].value, NULL, where, &problems);
    }
    if (problems.count == 0)
        return true;
    pd_error_set(err, PD_ERR_INVALID_INPUT, "%s", problems.first);
    if (problems.count > 1)
        describe_problems(err, &problems);
    return false;
}

char *
pd_config_describe(PdArena *arena, const PdConfig *config)
{
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    if (config->config_file != NULL)
        pd_strbuf_appendf(&out, "# read from %s\n", config->config_file);
    for (size_t i = 0; i < SETTING_COUNT; i++)
    {
        const char *field = (const char *)config + settings[i].offset;
        if (settings[i].type == SETTING_INT)
            pd_strbuf_appendf(&out, "%s = %d", settings[i].name, *(const int *)field);
        else
        {
            const char *value = *(const char *const *)field;
            if (settings[i].may_hold_secret)
                value = pd_db_mask_conninfo(arena, value);
            pd_strbuf_appendf(&out, "%s = \"%s\"", settings[i].name, value ? value : "");
        }
        pd_strbuf_appendf(&out, "    # %s (default %s)\n", settings[i].description,
                          settings[i].default_value[0] ? settings[i].default_value : "\"\"");
    }
    return (char *)pd_strbuf_text(&out);
}
