/*
 * split.c - cutting SQL text into statements for the executor, which runs the
 * concurrent part one statement at a time (CREATE INDEX CONCURRENTLY cannot
 * share a multi-statement string). A ';' ends a statement only outside
 * '...' strings (with '' inside, and E'...' with backslash escapes), "..."
 * identifiers, $tag$...$tag$ bodies, -- comments and nested block comments.
 * Each statement comes back without its ';', with leading blanks and comments
 * and trailing blanks cut, so it starts with its keyword; statements that hold
 * nothing but comments are dropped.
 */
#include <ctype.h>
#include <string.h>

#include "prodata/migrate.h"

static bool
is_identifier_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/* Length of the dollar-quote tag starting at text ("$$" or "$tag$"), or 0 when it is none. */
static size_t
dollar_tag_length(const char *text)
{
    if (text[0] != '$')
        return 0;
    size_t i = 1;
    if (isdigit((unsigned char)text[i])) /* $1 is a parameter, not a tag */
        return 0;
    while (is_identifier_char(text[i]) && text[i] != '$')
        i++;
    return text[i] == '$' ? i + 1 : 0;
}

/* Returns the position just after the construct opened at text[i], or 0 when unterminated. */
static size_t
skip_quoted(const char *text, size_t length, size_t i, const char **what)
{
    char c = text[i];
    if (c == '\'' || c == '"')
    {
        bool has_escapes = c == '\'' && i > 0 && (text[i - 1] == 'E' || text[i - 1] == 'e') &&
                           (i < 2 || !is_identifier_char(text[i - 2]));
        *what = c == '"' ? "quoted identifier" : "quoted string";
        for (size_t j = i + 1; j < length; j++)
        {
            if (has_escapes && text[j] == '\\' && j + 1 < length)
                j++;
            else if (text[j] == c && j + 1 < length && text[j + 1] == c)
                j++;
            else if (text[j] == c)
                return j + 1;
        }
        return 0;
    }
    if (c == '-')
    {
        const char *end = memchr(text + i, '\n', length - i);
        return end != NULL ? (size_t)(end - text) + 1 : length;
    }
    if (c == '/')
    {
        *what = "block comment";
        int depth = 0;
        for (size_t j = i; j + 1 < length; j++)
        {
            if (text[j] == '/' && text[j + 1] == '*')
            {
                depth++;
                j++;
            }
            else if (text[j] == '*' && text[j + 1] == '/')
            {
                if (--depth == 0)
                    return j + 2;
                j++;
            }
        }
        return 0;
    }
    size_t tag = dollar_tag_length(text + i);
    *what = "dollar-quoted string";
    for (size_t j = i + tag; j + tag <= length; j++)
        if (text[j] == '$' && strncmp(text + j, text + i, tag) == 0)
            return j + tag;
    return 0;
}

/* Whether a construct that must be skipped whole starts at text[i]. */
static bool
opens_quoted(const char *text, size_t length, size_t i)
{
    char c = text[i];
    if (c == '\'' || c == '"')
        return true;
    if (c == '-' && i + 1 < length && text[i + 1] == '-')
        return true;
    if (c == '/' && i + 1 < length && text[i + 1] == '*')
        return true;
    return c == '$' && (i == 0 || !is_identifier_char(text[i - 1])) && dollar_tag_length(text + i) > 0;
}

/* Cuts leading blanks and comments and trailing blanks; NULL when nothing is left. */
static const char *
trim_statement(PdArena *arena, const char *text, size_t length)
{
    size_t start = 0;
    while (start < length)
    {
        if (isspace((unsigned char)text[start]))
            start++;
        else if ((text[start] == '-' || text[start] == '/') && opens_quoted(text, length, start))
        {
            const char *ignored;
            size_t end = skip_quoted(text, length, start, &ignored);
            start = end == 0 ? length : end;
        }
        else
            break;
    }
    while (length > start && isspace((unsigned char)text[length - 1]))
        length--;
    if (start == length)
        return NULL;
    return pd_arena_strndup(arena, text + start, length - start);
}

static bool
push_statement(PdArena *arena, const char *text, size_t length, const char ***statements, size_t *count,
               PdError *err)
{
    const char *statement = trim_statement(arena, text, length);
    if (statement == NULL)
        return !pd_arena_failed(arena) || pd_arena_error(arena, err);
    const char **grown = pd_arena_reserve_next(arena, (void *)*statements, *count, sizeof(*grown));
    if (grown == NULL)
        return pd_arena_error(arena, err);
    grown[(*count)++] = statement;
    *statements = grown;
    return true;
}

bool
pd_migration_split_statements(PdArena *arena, const char *sql, const char *where, int first_line,
                              const char ***statements, size_t *count, PdError *err)
{
    const char **result = NULL;
    size_t result_count = 0;
    size_t length = sql != NULL ? strlen(sql) : 0;
    size_t start = 0;
    for (size_t i = 0; i < length;)
    {
        if (opens_quoted(sql, length, i))
        {
            const char *what = "";
            size_t end = skip_quoted(sql, length, i, &what);
            if (end == 0)
            {
                int line = first_line > 0 ? first_line : 1;
                for (size_t j = 0; j < i; j++)
                    line += sql[j] == '\n';
                if (where != NULL)
                    pd_error_set(err, PD_ERR_INVALID_INPUT, "%s:%d: unterminated %s", where, line, what);
                else
                    pd_error_set(err, PD_ERR_INVALID_INPUT, "unterminated %s starting on line %d", what,
                                 line);
                return pd_error_detail(err, "The SQL ends before the %s is closed.", what);
            }
            i = end;
            continue;
        }
        if (sql[i] == ';')
        {
            if (!push_statement(arena, sql + start, i - start, &result, &result_count, err))
                return false;
            start = i + 1;
        }
        i++;
    }
    if (!push_statement(arena, sql + start, length - start, &result, &result_count, err))
        return false;
    *statements = result;
    *count = result_count;
    return true;
}
