/*
 * split.c - cutting SQL text into statements for the executor, which runs the
 * concurrent part one statement at a time (CREATE INDEX CONCURRENTLY cannot
 * share a multi-statement string). A ';' ends a statement only outside
 * '...' strings (with '' inside, and E'...' with backslash escapes), "..."
 * identifiers, $tag$...$tag$ bodies, -- comments, nested block comments and
 * SQL-standard function bodies (BEGIN ATOMIC ... END).
 * Words (identifiers, keywords, numbers, $1 parameters) are stepped over
 * whole, as PostgreSQL's lexer reads them: a '$' inside a word (x$a$$b$) never
 * opens a dollar quote, or a COMMIT after it would hide from the check that
 * refuses transaction control.
 * Each statement comes back without its ';', with leading blanks and comments
 * and trailing blanks cut, so it starts with its keyword; statements that hold
 * nothing but comments are dropped.
 *
 * The same reading gives a statement's normal form for the checksum of an
 * applied file: comments and blanks between tokens do not count.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "prodata/migrate.h"
#include "split.h"

static bool
is_identifier_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

static bool
is_identifier_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/* The end of the word starting at text[i]: an identifier or keyword (which may hold '$' after its first
 * character), a number's digits, or a $1 parameter; i itself when no word starts there. */
static size_t
skip_word(const char *text, size_t length, size_t i)
{
    size_t j = i;
    if (is_identifier_start(text[i]))
    {
        while (j < length && (is_identifier_char(text[j]) || text[j] == '$'))
            j++;
        return j;
    }
    if (text[i] == '$' && i + 1 < length && isdigit((unsigned char)text[i + 1]))
        j++;
    while (j < length && isdigit((unsigned char)text[j]))
        j++;
    return j;
}

/* Length of the dollar-quote tag starting at text ("$$" or "$tag$"), or 0 when it is none. */
static size_t
dollar_tag_length(const char *text, size_t length)
{
    if (length == 0 || text[0] != '$')
        return 0;
    size_t i = 1;
    if (i < length && isdigit((unsigned char)text[i])) /* $1 is a parameter, not a tag */
        return 0;
    while (i < length && is_identifier_char(text[i]))
        i++;
    return i < length && text[i] == '$' ? i + 1 : 0;
}

/*
 * Returns the position just after the construct opened at text[i], or 0 when unterminated.
 * has_escapes: the quote follows the word E, so a backslash escapes the next character.
 */
static size_t
skip_quoted(const char *text, size_t length, size_t i, bool has_escapes, const char **what)
{
    char c = text[i];
    if (c == '\'' || c == '"')
    {
        has_escapes = has_escapes && c == '\'';
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
    size_t tag = dollar_tag_length(text + i, length - i);
    *what = "dollar-quoted string";
    for (size_t j = i + tag; j + tag <= length; j++)
        if (text[j] == '$' && strncmp(text + j, text + i, tag) == 0)
            return j + tag;
    return 0;
}

/* Whether a construct that must be skipped whole starts at text[i], which is not inside a word. */
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
    return c == '$' && dollar_tag_length(text + i, length - i) > 0;
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
            size_t end = skip_quoted(text, length, start, false, &ignored);
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

/* Fills err for a construct opened on sql[i] and never closed. Returns false. */
static bool
unterminated(const char *sql, size_t i, const char *what, const char *where, int first_line, PdError *err)
{
    int line = first_line > 0 ? first_line : 1;
    for (size_t j = 0; j < i; j++)
        line += sql[j] == '\n';
    if (where != NULL)
        pd_error_set(err, PD_ERR_INVALID_INPUT, "%s:%d: unterminated %s", where, line, what);
    else
        pd_error_set(err, PD_ERR_INVALID_INPUT, "unterminated %s starting on line %d", what, line);
    return pd_error_detail(err, "The SQL ends before the %s is closed.", what);
}

bool
pd_migration_split_statements(PdArena *arena, const char *sql, const char *where, int first_line,
                              const char ***statements, size_t *count, PdError *err)
{
    const char **result = NULL;
    size_t result_count = 0;
    size_t length = sql != NULL ? strlen(sql) : 0;
    size_t start = 0;
    bool is_after_e = false; /* the last word was E alone, right before i: E'...' has escapes */
    /* Inside a SQL-standard function body (BEGIN ATOMIC ... END, PostgreSQL 14+) a ';' ends no statement;
     * a CASE in it has an END of its own, as psql counts them. */
    int atomic_depth = 0;
    bool is_after_begin = false;
    for (size_t i = 0; i < length;)
    {
        size_t word_end = skip_word(sql, length, i);
        if (word_end > i)
        {
            size_t word_length = word_end - i;
            is_after_e = word_length == 1 && (sql[i] == 'E' || sql[i] == 'e');
            if (word_length == 6 && strncasecmp(sql + i, "atomic", 6) == 0 && is_after_begin)
                atomic_depth++;
            else if (atomic_depth > 0 && word_length == 4 && strncasecmp(sql + i, "case", 4) == 0)
                atomic_depth++;
            else if (atomic_depth > 0 && word_length == 3 && strncasecmp(sql + i, "end", 3) == 0)
                atomic_depth--;
            is_after_begin = word_length == 5 && strncasecmp(sql + i, "begin", 5) == 0;
            i = word_end;
            continue;
        }
        if (!isspace((unsigned char)sql[i]) && !opens_quoted(sql, length, i))
            is_after_begin = false;
        if (opens_quoted(sql, length, i))
        {
            const char *what = "";
            size_t end = skip_quoted(sql, length, i, is_after_e, &what);
            if (end == 0)
                return unterminated(sql, i, what, where, first_line, err);
            i = end;
        }
        else if (sql[i++] == ';' && atomic_depth == 0)
        {
            if (!push_statement(arena, sql + start, i - 1 - start, &result, &result_count, err))
                return false;
            start = i;
        }
        is_after_e = false;
    }
    if (!push_statement(arena, sql + start, length - start, &result, &result_count, err))
        return false;
    *statements = result;
    *count = result_count;
    return true;
}

static bool
is_word_char(char c)
{
    return is_identifier_char(c) || c == '$';
}

/*
 * One statement for the checksum: comments dropped and blanks between
 * tokens cut, keeping one space only where two words would otherwise run
 * together; quoted text is kept byte for byte. Re-indenting, re-wrapping or
 * commenting a statement leaves it unchanged; any other edit does not.
 */
static void
normalize_statement(PdStrbuf *out, const char *text)
{
    size_t length = strlen(text);
    bool has_gap = false, is_after_e = false;
    for (size_t i = 0; i < length;)
    {
        bool is_comment = (text[i] == '-' || text[i] == '/') && opens_quoted(text, length, i);
        if (isspace((unsigned char)text[i]) || is_comment)
        {
            const char *ignored;
            size_t end = is_comment ? skip_quoted(text, length, i, false, &ignored) : i + 1;
            i = end == 0 ? length : end;
            has_gap = true;
            continue;
        }
        size_t end = skip_word(text, length, i);
        bool is_word = end > i;
        if (!is_word && opens_quoted(text, length, i))
        {
            const char *ignored;
            end = skip_quoted(text, length, i, is_after_e, &ignored);
            end = end == 0 ? length : end;
        }
        else if (!is_word)
            end = i + 1;
        /* A space is kept between two words, and between two quoted tokens of one kind: 'a' 'b' (on two
         * lines, the string ab) and "a" "b" (a column and its alias) are not 'a''b' and "a""b". */
        char last = out->length > 0 ? out->data[out->length - 1] : '\0';
        if (has_gap && out->length > 0 &&
            ((is_word_char(last) && is_word_char(text[i])) ||
             ((last == '\'' || last == '"') && text[i] == last)))
            pd_strbuf_append_char(out, ' ');
        is_after_e = is_word && end == i + 1 && (text[i] == 'E' || text[i] == 'e');
        pd_strbuf_append_length(out, text + i, end - i);
        has_gap = false;
        i = end;
    }
}

bool
pd_split_normalize_section(PdArena *arena, const char *sql, PdStrbuf *out, PdError *err)
{
    const char **statements;
    size_t count;
    if (sql == NULL || sql[0] == '\0')
        return true;
    if (!pd_migration_split_statements(arena, sql, NULL, 0, &statements, &count, err))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        normalize_statement(out, statements[i]);
        pd_strbuf_append(out, ";\n");
    }
    return true;
}
