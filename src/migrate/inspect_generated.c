/*
 * inspect_generated.c - a generated column's expression, as pg_get_expr()
 * prints it, read back as a generated(...) of the model language for
 * inspectdb. PostgreSQL's spelling is fully parenthesized and casts what it
 * coerces (`(price * (quantity)::numeric)`, `((first)::text || ' '::text)`,
 * `'-1'::integer`): the casts to text, varchar and numeric are the ones the
 * language's typing makes again and are left out, a string cast to a number
 * is that number, and anything else (another cast, function, operator or
 * construct) is not read: the column stays a comment. The text is then
 * checked by the model checker itself, in a model of the table's other
 * columns, so inspectdb never writes a generated(...) the language refuses,
 * and written in the canonical form (no parentheses the meaning does not need).
 */
#include <ctype.h>
#include <string.h>

#include "inspect.h"
#include "prodata/strbuf.h"

typedef struct SqlReader
{
    const char *at;
    PdStrbuf out;
    const InspectTable *table;
    const char *reason; /* set on the first thing not read */
} SqlReader;

static bool
refuse(SqlReader *reader, const char *reason)
{
    if (reader->reason == NULL)
        reader->reason = reason;
    return false;
}

/* "::type" after a value: its type, one the coercions use, skipped with its (n) or (p,s); NULL otherwise. */
static const char *
read_cast(SqlReader *reader)
{
    static const char *types[] = {"character varying", "text", "numeric", "integer", "bigint", "smallint",
                                  "double precision"};
    if (strncmp(reader->at, "::", 2) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
    {
        size_t length = strlen(types[i]);
        if (strncmp(reader->at + 2, types[i], length) != 0 || isalnum((unsigned char)reader->at[2 + length]))
            continue;
        reader->at += 2 + length;
        if (*reader->at == '(')
            while (*reader->at != '\0' && *reader->at++ != ')')
                ;
        return types[i];
    }
    refuse(reader, "a cast the language does not write");
    return "";
}

static bool
is_number_type(const char *type)
{
    return strcmp(type, "numeric") == 0 || strcmp(type, "integer") == 0 || strcmp(type, "bigint") == 0 ||
           strcmp(type, "smallint") == 0;
}

/* '...' with '' inside, then its cast: a string of the language, or a number when cast to one. */
static bool
read_string(SqlReader *reader)
{
    PdStrbuf value;
    pd_strbuf_init(&value, reader->out.arena);
    pd_strbuf_append(&value, "");
    for (reader->at++;; reader->at++)
    {
        if (*reader->at == '\0')
            return refuse(reader, "an unterminated string");
        if (*reader->at == '\'' && reader->at[1] != '\'')
            break;
        if (*reader->at == '\'')
            reader->at++;
        pd_strbuf_append_char(&value, *reader->at);
    }
    reader->at++;
    const char *text = pd_strbuf_text(&value);
    const char *type = read_cast(reader);
    if (text == NULL || reader->reason != NULL)
        return false;
    if (type != NULL && is_number_type(type))
    {
        size_t digits = strspn(text + (text[0] == '-'), "0123456789.");
        if (digits == 0 || text[(text[0] == '-') + digits] != '\0')
            return refuse(reader, "a string cast to a number that is not one");
        pd_strbuf_append(&reader->out, text);
        return true;
    }
    pd_strbuf_append_char(&reader->out, '"');
    for (const char *c = text; *c != '\0'; c++)
        if (*c == '"' || *c == '\\')
            pd_strbuf_appendf(&reader->out, "\\%c", *c);
        else if ((unsigned char)*c < 0x20)
            return refuse(reader, "a control character in a string");
        else
            pd_strbuf_append_char(&reader->out, *c);
    pd_strbuf_append_char(&reader->out, '"');
    return true;
}

/* Whether a column is in a foreign key: inspectdb makes it a relation field, named without _id. */
static bool
is_key_column(const InspectTable *table, int number)
{
    for (size_t i = 0; i < table->constraint_count; i++)
        for (size_t k = 0; table->constraints[i].type == 'f' && k < table->constraints[i].column_count; k++)
            if (table->constraints[i].columns[k] == number)
                return true;
    return false;
}

/* A name: a function of the language (before "("), null, true, false, or a stored column of the table. */
static bool
read_word(SqlReader *reader)
{
    static const char *functions[] = {"lower", "upper", "length", "abs", "round", "coalesce"};
    char word[64];
    size_t length = 0;
    bool is_quoted = *reader->at == '"';
    const char *c = reader->at + is_quoted;
    while (length + 1 < sizeof(word) &&
           (is_quoted ? *c != '"' && *c != '\0' : isalnum((unsigned char)*c) || *c == '_'))
        word[length++] = *c++;
    word[length] = '\0';
    if (is_quoted && *c != '"')
        return refuse(reader, "a quoted name the language cannot write");
    reader->at = c + is_quoted;
    if (*reader->at == '(')
    {
        for (char *w = word; *w != '\0'; w++)
            *w = (char)tolower((unsigned char)*w);
        for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
            if (strcmp(functions[i], word) == 0)
            {
                pd_strbuf_append(&reader->out, word);
                return true;
            }
        return refuse(reader, "a function the language does not have");
    }
    if (!is_quoted && (strcmp(word, "NULL") == 0 || strcmp(word, "true") == 0 || strcmp(word, "false") == 0))
    {
        pd_strbuf_append(&reader->out, strcmp(word, "NULL") == 0 ? "null" : word);
        return true;
    }
    for (size_t i = 0; i < reader->table->column_count; i++)
        if (strcmp(reader->table->columns[i].name, word) == 0 && !reader->table->columns[i].is_generated &&
            !is_key_column(reader->table, reader->table->columns[i].number))
        {
            pd_strbuf_append(&reader->out, word);
            return true;
        }
    return refuse(reader, "a name that is not a stored, plain column of the table");
}

static bool
read_token(SqlReader *reader)
{
    char c = *reader->at;
    if (c == ' ')
        reader->at++;
    else if (strncmp(reader->at, "||", 2) == 0)
        reader->at += 2, pd_strbuf_append(&reader->out, " || ");
    else if (strchr("+-*/", c) != NULL)
        reader->at++, pd_strbuf_appendf(&reader->out, " %c ", c);
    else if (c == '(' || c == ')')
        reader->at++, pd_strbuf_append_char(&reader->out, c);
    else if (c == ',')
        reader->at++, pd_strbuf_append(&reader->out, ", ");
    else if (c == ':') /* the coercions PostgreSQL writes for the language's typing: text and numeric only */
    {
        const char *type = read_cast(reader);
        if (type == NULL || reader->reason != NULL || is_number_type(type) != (strcmp(type, "numeric") == 0))
            return refuse(reader, "a cast the language does not write");
    }
    else if (c == '\'')
        return read_string(reader);
    else if (isdigit((unsigned char)c))
    {
        size_t length = strspn(reader->at, "0123456789.");
        pd_strbuf_appendf(&reader->out, "%.*s", (int)length, reader->at);
        reader->at += length;
    }
    else if (isalpha((unsigned char)c) || c == '_' || c == '"')
        return read_word(reader);
    else
        return refuse(reader, "an operator the language does not have");
    return true;
}

/* A name a field line can start with (the directives' words are not). */
static bool
is_plain_name(const char *name)
{
    static const char *directives[] = {"ordering",     "table",  "resource", "unique", "index",
                                       "renamed_from", "access", "comment",  "check",  "model"};
    if (!islower((unsigned char)name[0]) ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
        return false;
    for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
        if (strcmp(directives[i], name) == 0)
            return false;
    return true;
}

/* The model of the table's other stored columns plus this one, parsed: the checker judges the expression. */
static bool
is_checked(PdArena *arena, const InspectTable *table, const InspectColumn *column, const char *type_text,
           const char **expression, const char **reason)
{
    PdStrbuf model;
    pd_strbuf_init(&model, arena);
    pd_strbuf_append(&model, "model InspectGenerated {\n");
    for (size_t i = 0; i < table->column_count; i++)
    {
        const InspectColumn *other = &table->columns[i];
        PdColumnType type;
        if (other == column || other->is_generated || is_key_column(table, other->number) ||
            !is_plain_name(other->name) || !pd_inspect_column_type(other->type, &type))
            continue;
        PdField field = {
            .kind = type.kind, .max_length = type.length, .precision = type.precision, .scale = type.scale};
        const char *text = pd_model_type_text(arena, &field);
        if (text != NULL && strcmp(other->name, "id") != 0)
            pd_strbuf_appendf(&model, "  %s %s null\n", other->name, text);
    }
    pd_strbuf_appendf(&model, "  %s %s null generated(%s)\n}\n", column->name, type_text, *expression);
    const char *text = pd_strbuf_text(&model);
    PdCatalog *catalog = NULL;
    PdError err;
    char *canonical = NULL;
    if (text == NULL || !pd_model_parse(arena, "inspect", text, &catalog, &err))
    {
        *reason = text == NULL ? "out of memory"
                               : pd_arena_sprintf(arena, "the language refuses it: %s", err.message);
        return false;
    }
    /* The canonical text drops the parentheses PostgreSQL's spelling left: the field's line ends in it. */
    char *line = pd_model_format(arena, catalog, &canonical, &err)
                     ? strstr(canonical, pd_arena_sprintf(arena, "\n  %s ", column->name))
                     : NULL;
    char *start = line != NULL ? strstr(line, " generated(") : NULL;
    char *end = start != NULL ? strchr(start, '\n') : NULL;
    if (end != NULL && end[-1] == ')')
        *expression = pd_arena_strndup(arena, start + strlen(" generated("),
                                       (size_t)(end - 1 - start - strlen(" generated(")));
    return true;
}

bool
pd_inspect_read_generated(PdArena *arena, const InspectTable *table, const InspectColumn *column,
                          const char *type_text, const char **text, const char **reason)
{
    SqlReader reader = {.at = column->default_sql != NULL ? column->default_sql : "", .table = table};
    pd_strbuf_init(&reader.out, arena);
    pd_strbuf_append(&reader.out, "");
    while (*reader.at != '\0')
        if (!read_token(&reader))
        {
            *reason = reader.reason != NULL ? reader.reason : "a cast the language does not write";
            return false;
        }
    const char *expression = pd_strbuf_text(&reader.out);
    if (expression == NULL || expression[0] == '\0')
    {
        *reason = expression == NULL ? "out of memory" : "an empty expression";
        return false;
    }
    if (!is_checked(arena, table, column, type_text, &expression, reason) || expression == NULL)
        return false;
    *text = expression;
    return true;
}
