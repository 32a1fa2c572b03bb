/*
 * parser.c - the model language's grammar, by recursive descent over the
 * lexer's tokens, in one pass. It checks form only: a field line is a name, a
 * type and options; a directive line starts with a reserved word. Meaning
 * (known types and models, option conflicts, defaults) is the checker's job,
 * so the parser records positions for everything the checker may point at.
 * Arrays grow by doubling in the arena: no limit on models, fields, choices.
 * It reports every problem it can find, not only the first: a broken line is
 * reported and skipped (the next line is read afresh), a broken model header
 * skips to the next "model", and an unclosed "{" names the model it opened.
 * Each problem is raised into a scratch error, then moved into the list
 * (pd_error_add_problem, capped); only memory running out stops at once.
 *
 *   file      = { model }
 *   model     = [ "abstract" ] "model" Name [ "extends" Name { "," Name } ] "{" { line } "}"
 *   line      = field | directive                       (ends at a line end or "}")
 *   field     = name type { option }
 *   type      = word [ "(" number [ "," number ] ")" ] | Name [ "[" "]" ]
 *   option    = null | unique | index | no_index | search [=word ["(" word ")"]] | primary_key | one_to_one
 *             | default=value | backfill=literal | auto_now_add | auto_now | generated(value)
 *             | check(op literal)
 *             | choices(choice, ...)
 *             | on_delete=word | related=name | fk_name="constraint" | deferrable
 *             | through="table" | through=Model | comment="text" | renamed_from=name
 *   default   = number | string | true | false | now | uuid | serial
 *   literal   = number | string | true | false
 *   directive = ordering [-]f, ... | table "t" | resource "r" | renamed_from Old
 *             | unique(f, ...) [where expr] [name="n"] | index(f [opclass], ...) [where expr] [name="n"]
 *                 (a field in unique(...) or index(...) may be written lower(f) or upper(f))
 *             | access (read | write) = who [ (read | write) = who ]
 *             | check( expr ) [name="n"]                  (expr: see expr.c)
 *             | comment "text" | primary_key(f, f, ...)
 *   who       = word { "|" word }                          (anyone, authenticated, none or role names)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexer.h"
#include "syntax.h"

typedef struct Parser
{
    PdArena *arena;
    PdLexer lexer;
    PdError *err;      /* the problem being raised; report() moves it into problems */
    PdError *problems; /* every problem found so far, in text order */
    bool is_fatal;     /* memory ran out: stop */
    /* Fields of the model being read grow here and are copied out at its "}", so the doubling
     * waste is paid once for the file rather than once per model. */
    PdFieldSyntax *scratch_fields;
    size_t scratch_capacity;
} Parser;

static const char *option_names[PD_OPTION_COUNT] = {
    "primary_key", "one_to_one", "null",         "unique",     "index",     "no_index", "search",
    "default",     "backfill",   "auto_now_add", "auto_now",   "generated", "check",    "choices",
    "on_delete",   "related",    "fk_name",      "deferrable", "through",   "comment",  "renamed_from",
};

const char *
pd_model_option_name(PdOption option)
{
    return option_names[option];
}

static const PdToken *
peek(Parser *parser, size_t offset)
{
    return pd_model_lexer_peek(&parser->lexer, offset);
}

static PdToken
next(Parser *parser)
{
    return pd_model_lexer_next(&parser->lexer);
}

static bool
is_token(Parser *parser, size_t offset, PdTokenKind kind)
{
    return peek(parser, offset)->kind == kind;
}

static bool
is_word(Parser *parser, size_t offset, const char *word)
{
    const PdToken *token = peek(parser, offset);
    return token->kind == PD_TOKEN_IDENT && strcmp(token->text, word) == 0;
}

static bool
is_line_end(Parser *parser, size_t offset)
{
    PdTokenKind kind = peek(parser, offset)->kind;
    return kind == PD_TOKEN_NEWLINE || kind == PD_TOKEN_RBRACE || kind == PD_TOKEN_EOF;
}

static bool
fail_memory(Parser *parser)
{
    parser->is_fatal = true;
    return pd_arena_error(parser->arena, parser->err);
}

/* The lexical error of the ERROR token `offset` places ahead, as the problem raised. Returns false. */
static bool
lexical_error(Parser *parser, size_t offset)
{
    const PdToken *token = peek(parser, offset);
    if (token->text == NULL)
    {
        *parser->err = parser->lexer.error; /* memory ran out */
        parser->is_fatal = true;
        return false;
    }
    return pd_model_error_at(parser->err, token->pos, "%s", token->text);
}

/* "unexpected <token>, expected <what>"; a lexical error wins, as it is what the text holds here. */
static bool
unexpected(Parser *parser, const char *expected)
{
    const PdToken *token = peek(parser, 0);
    if (token->kind == PD_TOKEN_ERROR)
        return lexical_error(parser, 0);
    const char *found = pd_model_token_describe(parser->arena, token);
    if (found == NULL)
        return fail_memory(parser);
    return pd_model_error_at(parser->err, token->pos, "unexpected %s, expected %s", found, expected);
}

static bool
expect(Parser *parser, PdTokenKind kind, const char *expected, PdToken *out)
{
    if (!is_token(parser, 0, kind))
        return unexpected(parser, expected);
    PdToken token = next(parser);
    if (out != NULL)
        *out = token;
    return true;
}

/* Room for one more element; returns the (possibly moved) array, NULL when memory ran out. */
static void *
reserve(Parser *parser, void *array, size_t count, size_t *capacity, size_t size)
{
    if (count < *capacity)
        return array;
    size_t new_capacity = *capacity ? *capacity * 2 : 4;
    void *grown = pd_arena_grow(parser->arena, array, count, new_capacity, size);
    if (grown == NULL)
        return NULL;
    *capacity = new_capacity;
    return grown;
}

/* A literal as a value: number, string, true or false. */
static bool
parse_literal(Parser *parser, PdLiteral *literal, const char *expected)
{
    const PdToken *token = peek(parser, 0);
    if (token->kind == PD_TOKEN_NUMBER || token->kind == PD_TOKEN_STRING)
        literal->kind = token->kind == PD_TOKEN_NUMBER ? PD_LITERAL_NUMBER : PD_LITERAL_STRING;
    else if (is_word(parser, 0, "true") || is_word(parser, 0, "false"))
        literal->kind = PD_LITERAL_BOOL;
    else
        return unexpected(parser, expected);
    literal->text = next(parser).text;
    return true;
}

/* [literal, ...]: an array field's default, elements checked against the element type by the checker. */
static bool
parse_array_literal(Parser *parser, PdLiteral *literal)
{
    next(parser); /* "[" */
    PdLiteral *items = NULL;
    size_t capacity = 0;
    PdStrbuf text;
    pd_strbuf_init(&text, parser->arena);
    pd_strbuf_append(&text, "[");
    literal->kind = PD_LITERAL_ARRAY;
    literal->item_count = 0;
    while (!is_token(parser, 0, PD_TOKEN_RBRACKET))
    {
        if (literal->item_count > 0 && !expect(parser, PD_TOKEN_COMMA, "\",\" or \"]\" in an array", NULL))
            return false;
        if (literal->item_count > 0 && is_token(parser, 0, PD_TOKEN_RBRACKET))
            break; /* a trailing comma */
        if ((items = reserve(parser, items, literal->item_count, &capacity, sizeof(PdLiteral))) == NULL)
            return fail_memory(parser);
        PdLiteral *item = &items[literal->item_count];
        *item = (PdLiteral){0};
        if (!parse_literal(parser, item, "a number, a string, true or false in an array"))
            return false;
        pd_strbuf_append(&text, literal->item_count > 0 ? ", " : "");
        pd_model_append_literal(&text, item);
        literal->item_count++;
    }
    next(parser); /* "]" */
    pd_strbuf_append(&text, "]");
    literal->items = items;
    literal->text = pd_strbuf_text(&text);
    return literal->text != NULL || fail_memory(parser);
}

static bool
parse_default(Parser *parser, PdFieldSyntax *field)
{
    static const char *expected = "a number, a string, true, false, now, uuid or serial";
    if (!expect(parser, PD_TOKEN_EQ, "\"=\" after default", NULL))
        return false;
    PdDefault *value = &field->field.default_value;
    if (is_word(parser, 0, "now") || is_word(parser, 0, "uuid") || is_word(parser, 0, "serial"))
    {
        value->kind = is_word(parser, 0, "now")    ? PD_DEFAULT_NOW
                      : is_word(parser, 0, "uuid") ? PD_DEFAULT_UUID
                                                   : PD_DEFAULT_SERIAL;
        next(parser);
        return true;
    }
    value->kind = PD_DEFAULT_LITERAL;
    if (is_token(parser, 0, PD_TOKEN_LBRACKET))
        return parse_array_literal(parser, &value->literal);
    return parse_literal(parser, &value->literal, expected);
}

/* backfill=<literal>: a value for the rows already there, checked against the type by the checker. */
static bool
parse_backfill(Parser *parser, PdFieldSyntax *field)
{
    if (!expect(parser, PD_TOKEN_EQ, "\"=\" after backfill", NULL))
        return false;
    PdLiteral *value = pd_arena_calloc(parser->arena, 1, sizeof(*value));
    if (value == NULL)
        return fail_memory(parser);
    field->field.backfill = value;
    return parse_literal(parser, value, "a literal for backfill=: a number, a string, true or false");
}

static bool
parse_check(Parser *parser, PdFieldSyntax *field, size_t *capacity, PdSourcePos pos)
{
    static const PdTokenKind ops[] = {PD_TOKEN_EQ, PD_TOKEN_NE, PD_TOKEN_LT,
                                      PD_TOKEN_LE, PD_TOKEN_GT, PD_TOKEN_GE};
    if (!expect(parser, PD_TOKEN_LPAREN, "\"(\" after check", NULL))
        return false;
    PdCheck check = {.pos = pos};
    size_t op = 0;
    while (op < 6 && !is_token(parser, 0, ops[op]))
        op++;
    if (op == 6)
        return unexpected(parser, "a comparison: =, !=, <, <=, > or >=");
    next(parser);
    check.op = (PdCheckOp)op;
    if (is_word(parser, 0, "null"))
    {
        /* check(!= null): IS NOT NULL; the checker allows null only with = and != */
        check.value.kind = PD_LITERAL_NULL;
        check.value.text = next(parser).text;
    }
    else if (!parse_literal(parser, &check.value, "a number, a string, true, false or null"))
        return false;
    if (!expect(parser, PD_TOKEN_RPAREN, "\")\" to close check(", NULL))
        return false;
    PdField *target = &field->field;
    PdCheck *checks = reserve(parser, target->checks, target->check_count, capacity, sizeof(PdCheck));
    if (checks == NULL)
        return fail_memory(parser);
    target->checks = checks;
    target->checks[target->check_count++] = check;
    return true;
}

/* One choice: a value (a word stands for the string) and an optional label string. */
static bool
parse_choice(Parser *parser, PdChoice *choice)
{
    if (is_token(parser, 0, PD_TOKEN_IDENT))
    {
        choice->value.kind = PD_LITERAL_STRING;
        choice->value.text = next(parser).text;
    }
    else if (is_token(parser, 0, PD_TOKEN_NUMBER) || is_token(parser, 0, PD_TOKEN_STRING))
    {
        choice->value.kind = is_token(parser, 0, PD_TOKEN_NUMBER) ? PD_LITERAL_NUMBER : PD_LITERAL_STRING;
        choice->value.text = next(parser).text;
    }
    else
        return unexpected(parser, "a choice: a word, a string or a number");
    choice->label = choice->value.text;
    if (is_token(parser, 0, PD_TOKEN_STRING))
        choice->label = next(parser).text;
    return true;
}

static bool
parse_choices(Parser *parser, PdFieldSyntax *field)
{
    if (!expect(parser, PD_TOKEN_LPAREN, "\"(\" after choices", NULL))
        return false;
    size_t capacity = 0, pos_capacity = 0;
    PdField *target = &field->field;
    do
    {
        if (target->choice_count > 0 && is_token(parser, 0, PD_TOKEN_RPAREN))
            break; /* a trailing comma, handy when a long list wraps */
        PdChoice *choices =
            reserve(parser, target->choices, target->choice_count, &capacity, sizeof(PdChoice));
        PdSourcePos *positions =
            reserve(parser, field->choice_pos, target->choice_count, &pos_capacity, sizeof(PdSourcePos));
        if (choices == NULL || positions == NULL)
            return fail_memory(parser);
        target->choices = choices;
        field->choice_pos = positions;
        field->choice_pos[target->choice_count] = peek(parser, 0)->pos;
        if (!parse_choice(parser, &target->choices[target->choice_count]))
            return false;
        target->choice_count++;
    } while (is_token(parser, 0, PD_TOKEN_COMMA) && (next(parser), true));
    return expect(parser, PD_TOKEN_RPAREN, "\",\" or \")\" in choices(", NULL);
}

/* generated(<value>): the expression of a generated column (generated.c), typed by the checker. */
static bool
parse_generated(Parser *parser, PdFieldSyntax *field)
{
    if (!expect(parser, PD_TOKEN_LPAREN, "\"(\" after generated", NULL))
        return false;
    if (!pd_model_parse_value_expr(parser->arena, &parser->lexer, &field->field.generated, &parser->is_fatal,
                                   parser->err))
        return false;
    return expect(parser, PD_TOKEN_RPAREN, "\")\" to close generated(, or an operator", NULL);
}

/* option=word or option="string" */
static bool
parse_assigned(Parser *parser, PdTokenKind kind, const char *option, const char **value)
{
    char expected[96];
    snprintf(expected, sizeof(expected), "\"=\" after %s", option);
    if (!expect(parser, PD_TOKEN_EQ, expected, NULL))
        return false;
    snprintf(expected, sizeof(expected), "%s after %s=", kind == PD_TOKEN_STRING ? "a string" : "a name",
             option);
    PdToken token = {0};
    if (!expect(parser, kind, expected, &token))
        return false;
    *value = token.text;
    return true;
}

/* Other spellings of an option: Django 5's db_default is our default, already a database default. */
static const struct
{
    const char *name;
    PdOption option;
} option_aliases[] = {
    {"db_default", PD_OPTION_DEFAULT},
};

static int
find_option(const char *name)
{
    for (int option = 0; option < PD_OPTION_COUNT; option++)
        if (strcmp(option_names[option], name) == 0)
            return option;
    for (size_t i = 0; i < sizeof(option_aliases) / sizeof(option_aliases[0]); i++)
        if (strcmp(option_aliases[i].name, name) == 0)
            return (int)option_aliases[i].option;
    return -1;
}

/* search, search=trigram, search=fulltext, search=fulltext(english): the words kept for the checker. */
static bool
parse_search(Parser *parser, PdFieldSyntax *field)
{
    if (!is_token(parser, 0, PD_TOKEN_EQ))
        return true;
    if (!parse_assigned(parser, PD_TOKEN_IDENT, "search", &field->search_name))
        return false;
    if (!is_token(parser, 0, PD_TOKEN_LPAREN))
        return true;
    next(parser);
    PdToken token = {0};
    if (!expect(parser, PD_TOKEN_IDENT, "a text search configuration such as english in search=fulltext(...)",
                &token))
        return false;
    field->field.search_config = token.text;
    field->search_config_pos = token.pos;
    return expect(parser, PD_TOKEN_RPAREN, "\")\" after the text search configuration", NULL);
}

static bool
parse_option(Parser *parser, PdFieldSyntax *field, size_t *check_capacity)
{
    if (!is_token(parser, 0, PD_TOKEN_IDENT))
        return unexpected(parser,
                          "an option such as null, unique, index or default=..., or the end of the line");
    PdToken token = next(parser);
    int found = find_option(token.text);
    if (found < 0)
        return pd_model_error_at(
            parser->err, token.pos,
            "unknown option \"%s\", expected a field option such as null, unique, index, default=, check(), "
            "auto_now or on_delete= (docs/models.md lists them all)",
            token.text);
    PdOption option = (PdOption)found;
    if (field->has_option[option] && option != PD_OPTION_CHECK &&
        strcmp(token.text, option_names[option]) != 0)
        return pd_model_error_at(
            parser->err, token.pos,
            "option \"%s\" given twice or with %s=, expected one of them (%s= is %s= under Django's name)",
            token.text, option_names[option], token.text, option_names[option]);
    if (field->has_option[option] && option != PD_OPTION_CHECK)
        return pd_model_error_at(parser->err, token.pos,
                                 "option \"%s\" given twice, expected it at most once per field", token.text);
    if (!field->has_option[option])
        field->option_pos[option] = token.pos;
    field->has_option[option] = true;
    switch (option)
    {
        case PD_OPTION_DEFAULT:
            return parse_default(parser, field);
        case PD_OPTION_BACKFILL:
            return parse_backfill(parser, field);
        case PD_OPTION_GENERATED:
            return parse_generated(parser, field);
        case PD_OPTION_CHECK:
            return parse_check(parser, field, check_capacity, token.pos);
        case PD_OPTION_CHOICES:
            return parse_choices(parser, field);
        case PD_OPTION_SEARCH:
            return parse_search(parser, field);
        case PD_OPTION_ON_DELETE:
            return parse_assigned(parser, PD_TOKEN_IDENT, "on_delete", &field->on_delete_name);
        case PD_OPTION_RELATED:
            return parse_assigned(parser, PD_TOKEN_IDENT, "related", &field->field.related_name);
        case PD_OPTION_FK_NAME:
            return parse_assigned(parser, PD_TOKEN_STRING, "fk_name", &field->field.fk_name);
        case PD_OPTION_THROUGH:
            if (is_token(parser, 0, PD_TOKEN_EQ) && is_token(parser, 1, PD_TOKEN_IDENT))
                return parse_assigned(parser, PD_TOKEN_IDENT, "through", &field->field.through_model_name);
            return parse_assigned(parser, PD_TOKEN_STRING, "through", &field->field.through_table);
        case PD_OPTION_COMMENT:
            return parse_assigned(parser, PD_TOKEN_STRING, "comment", &field->field.comment);
        case PD_OPTION_RENAMED_FROM:
            return parse_assigned(parser, PD_TOKEN_IDENT, "renamed_from", &field->field.renamed_from);
        default:
            return true; /* a flag */
    }
}

/* (n) or (p, s) after a type: whole numbers, kept for the checker to judge. */
static bool
parse_type_args(Parser *parser, PdFieldSyntax *field)
{
    field->type_args_pos = next(parser).pos; /* "(" */
    do
    {
        PdToken token = {0};
        if (!expect(parser, PD_TOKEN_NUMBER, "a whole number in the type's parentheses", &token))
            return false;
        if (strspn(token.text, "0123456789") != strlen(token.text))
            return pd_model_error_at(parser->err, token.pos,
                                     "number %s in a type, expected a whole number such as 200", token.text);
        errno = 0;
        long value = strtol(token.text, NULL, 10);
        /* No type takes a number near this: refuse it here rather than let it wrap into a stranger message.
         */
        if (errno == ERANGE || value > 1000000000L)
            return pd_model_error_at(parser->err, token.pos,
                                     "number %s in a type, expected a whole number such as 200", token.text);
        if (field->type_arg_count < 2)
            field->type_args[field->type_arg_count] = value;
        field->type_arg_count++;
    } while (is_token(parser, 0, PD_TOKEN_COMMA) && (next(parser), true));
    return expect(parser, PD_TOKEN_RPAREN, "\",\" or \")\" after the type's numbers", NULL);
}

static bool
parse_field(Parser *parser, PdFieldSyntax *field)
{
    PdToken name = next(parser);
    field->field.name = name.text;
    field->field.pos = name.pos;
    PdToken type = {0};
    if (!expect(parser, PD_TOKEN_IDENT, "a type such as string(n), int or a model name", &type))
        return false;
    field->type_name = type.text;
    field->type_pos = type.pos;
    if (is_token(parser, 0, PD_TOKEN_LPAREN) && !parse_type_args(parser, field))
        return false;
    if (is_token(parser, 0, PD_TOKEN_LBRACKET))
    {
        next(parser);
        if (!expect(parser, PD_TOKEN_RBRACKET, "\"]\" after \"[\" (Model[] is a many-to-many field)", NULL))
            return false;
        field->is_list = true;
        if (is_token(parser, 0, PD_TOKEN_LBRACKET))
            return pd_model_error_at(parser->err, peek(parser, 0)->pos,
                                     "\"[\" after %s[], expected one \"[]\" (arrays have one dimension)",
                                     field->type_name);
    }
    size_t check_capacity = 0;
    while (!is_line_end(parser, 0))
        if (!parse_option(parser, field, &check_capacity))
            return false;
    return true;
}

static bool
parse_ordering(Parser *parser, PdModelSyntax *model)
{
    size_t capacity = 0, pos_capacity = 0;
    PdModel *target = &model->model;
    if (target->ordering_count > 0)
        return pd_model_error_at(parser->err, peek(parser, 0)->pos,
                                 "directive \"ordering\" given twice, expected it at most once per model");
    next(parser); /* "ordering" */
    do
    {
        PdOrdering *terms =
            reserve(parser, target->ordering, target->ordering_count, &capacity, sizeof(PdOrdering));
        PdSourcePos *positions =
            reserve(parser, model->ordering_pos, target->ordering_count, &pos_capacity, sizeof(PdSourcePos));
        if (terms == NULL || positions == NULL)
            return fail_memory(parser);
        target->ordering = terms;
        model->ordering_pos = positions;
        PdOrdering *term = &target->ordering[target->ordering_count];
        model->ordering_pos[target->ordering_count] = peek(parser, 0)->pos;
        term->is_descending = is_token(parser, 0, PD_TOKEN_MINUS) && (next(parser), true);
        PdToken name = {0};
        if (!expect(parser, PD_TOKEN_IDENT, "a field name in ordering", &name))
            return false;
        term->field = name.text;
        target->ordering_count++;
    } while (is_token(parser, 0, PD_TOKEN_COMMA) && (next(parser), true));
    return true;
}

static bool
parse_index(Parser *parser, PdModelSyntax *model, size_t *capacity)
{
    PdIndexSyntax *indexes =
        reserve(parser, model->indexes, model->index_count, capacity, sizeof(PdIndexSyntax));
    if (indexes == NULL)
        return fail_memory(parser);
    model->indexes = indexes;
    PdIndexSyntax *entry = &model->indexes[model->index_count];
    memset(entry, 0, sizeof(*entry));
    PdToken keyword = next(parser);
    entry->index.is_unique = strcmp(keyword.text, "unique") == 0;
    entry->index.pos = keyword.pos;
    next(parser); /* "(" */
    size_t field_capacity = 0, pos_capacity = 0, opclass_capacity = 0, opclass_pos_capacity = 0;
    size_t function_capacity = 0;
    bool has_opclass = false, has_function = false;
    do
    {
        PdIndex *index = &entry->index;
        size_t count = index->field_count;
        const char **fields = reserve(parser, index->fields, count, &field_capacity, sizeof(const char *));
        PdSourcePos *positions = reserve(parser, entry->field_pos, count, &pos_capacity, sizeof(PdSourcePos));
        const char **opclasses =
            reserve(parser, index->opclasses, count, &opclass_capacity, sizeof(const char *));
        PdSourcePos *opclass_positions =
            reserve(parser, entry->opclass_pos, count, &opclass_pos_capacity, sizeof(PdSourcePos));
        const char **functions =
            reserve(parser, index->functions, count, &function_capacity, sizeof(const char *));
        if (fields == NULL || positions == NULL || opclasses == NULL || opclass_positions == NULL ||
            functions == NULL)
            return fail_memory(parser);
        index->functions = functions;
        index->functions[count] = NULL;
        if (is_token(parser, 0, PD_TOKEN_IDENT) && is_token(parser, 1, PD_TOKEN_LPAREN)) /* lower(email) */
        {
            index->functions[count] = next(parser).text;
            next(parser);
            has_function = true;
        }
        index->fields = fields;
        entry->field_pos = positions;
        index->opclasses = opclasses;
        entry->opclass_pos = opclass_positions;
        PdToken name = {0}, opclass = {0};
        if (!expect(parser, PD_TOKEN_IDENT, "a field name", &name))
            return false;
        if (index->functions[count] != NULL &&
            !expect(parser, PD_TOKEN_RPAREN, "\")\" after the field of a function", NULL))
            return false;
        if (is_token(parser, 0, PD_TOKEN_IDENT)) /* an operator class: the checker judges where it may be */
        {
            opclass = next(parser);
            has_opclass = true;
        }
        index->fields[count] = name.text;
        entry->field_pos[count] = name.pos;
        index->opclasses[count] = opclass.text;
        entry->opclass_pos[count] = opclass.pos;
        index->field_count++;
    } while (is_token(parser, 0, PD_TOKEN_COMMA) && (next(parser), true));
    if (!expect(parser, PD_TOKEN_RPAREN, "\",\" or \")\" in the field list", NULL))
        return false;
    if (!has_function)
        entry->index.functions = NULL;
    if (!has_opclass)
    {
        entry->index.opclasses = NULL;
        entry->opclass_pos = NULL;
    }
    if (is_word(parser, 0, "where")) /* a partial index: expr.c reads the condition */
    {
        next(parser);
        if (!pd_model_parse_expr(parser->arena, &parser->lexer, &entry->index.where, &parser->is_fatal,
                                 parser->err))
            return false;
    }
    model->index_count++;
    if (!is_word(parser, 0, "name"))
        return true;
    entry->name_pos = next(parser).pos;
    return parse_assigned(parser, PD_TOKEN_STRING, "name", &entry->index.name);
}

/* who = word { "|" word }: one of anyone, authenticated, none alone, else role names (the checker judges). */
static bool
parse_who(Parser *parser, PdAccess *access, PdSourcePos **positions)
{
    size_t capacity = 0, pos_capacity = 0;
    do
    {
        const char **roles =
            reserve(parser, access->roles, access->role_count, &capacity, sizeof(const char *));
        PdSourcePos *found =
            reserve(parser, *positions, access->role_count, &pos_capacity, sizeof(PdSourcePos));
        if (roles == NULL || found == NULL)
            return fail_memory(parser);
        access->roles = roles;
        *positions = found;
        PdToken name = {0};
        if (!expect(parser, PD_TOKEN_IDENT, "a role name, anyone, authenticated or none", &name))
            return false;
        access->roles[access->role_count] = name.text;
        (*positions)[access->role_count++] = name.pos;
    } while (is_token(parser, 0, PD_TOKEN_PIPE) && (next(parser), true));
    static const struct
    {
        const char *word;
        PdAccessKind kind;
    } words[] = {
        {"anyone", PD_ACCESS_ANYONE}, {"authenticated", PD_ACCESS_AUTHENTICATED}, {"none", PD_ACCESS_NONE}};
    access->kind = PD_ACCESS_ROLES;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]) && access->role_count == 1; i++)
        if (strcmp(access->roles[0], words[i].word) == 0)
        {
            access->kind = words[i].kind;
            access->roles = NULL;
            access->role_count = 0;
        }
    return true;
}

/* access read=<who> write=<who>: either or both, once each, on one line. */
static bool
parse_access(Parser *parser, PdModelSyntax *model)
{
    PdToken keyword = next(parser);
    if (model->access_pos.line != 0)
        return pd_model_error_at(parser->err, keyword.pos,
                                 "directive \"access\" given twice, expected it at most once per model");
    model->access_pos = keyword.pos;
    do
    {
        PdToken which = {0};
        if (!expect(parser, PD_TOKEN_IDENT, "\"|\" between roles, or read=<who> or write=<who>", &which))
            return false;
        int side = strcmp(which.text, "read") == 0 ? 0 : strcmp(which.text, "write") == 0 ? 1 : -1;
        if (side < 0)
            return pd_model_error_at(parser->err, which.pos,
                                     "unknown access \"%s\", expected read=<who> or write=<who>", which.text);
        if (model->access_pos_of[side].line != 0)
            return pd_model_error_at(parser->err, which.pos,
                                     "\"%s\" given twice in access, expected it at most once", which.text);
        if (!expect(parser, PD_TOKEN_EQ, side == 0 ? "\"=\" after read" : "\"=\" after write", NULL))
            return false;
        model->access_pos_of[side] = peek(parser, 0)->pos;
        PdAccess *access = side == 0 ? &model->model.read_access : &model->model.write_access;
        if (!parse_who(parser, access, &model->role_pos_of[side]))
            return false;
    } while (!is_line_end(parser, 0));
    return true;
}

/* check(<expression>) [name="n"]: a CHECK constraint over the model's fields (expr.c reads the expression).
 */
static bool
parse_model_check(Parser *parser, PdModelSyntax *model)
{
    PdModel *target = &model->model;
    size_t count = target->check_count;
    PdModelCheck *checks =
        pd_arena_grow(parser->arena, target->checks, count, count + 1, sizeof(PdModelCheck));
    PdSourcePos *positions =
        pd_arena_grow(parser->arena, model->check_name_pos, count, count + 1, sizeof(PdSourcePos));
    if (checks == NULL || positions == NULL)
        return fail_memory(parser);
    target->checks = checks;
    model->check_name_pos = positions;
    PdModelCheck *check = &checks[count];
    memset(check, 0, sizeof(*check));
    memset(&positions[count], 0, sizeof(PdSourcePos));
    check->pos = next(parser).pos; /* "check" */
    next(parser);                  /* "(" */
    if (!pd_model_parse_expr(parser->arena, &parser->lexer, &check->expr, &parser->is_fatal, parser->err))
        return false;
    if (!expect(parser, PD_TOKEN_RPAREN, "\")\" to close check(, or and, or", NULL))
        return false;
    target->check_count++;
    if (!is_word(parser, 0, "name"))
        return true;
    positions[count] = next(parser).pos;
    check->is_named = true;
    return parse_assigned(parser, PD_TOKEN_STRING, "name", &check->name);
}

/* primary_key(a, b, ...): the composite key's fields as written; the checker judges them. */
static bool
parse_key(Parser *parser, PdModelSyntax *model)
{
    PdModel *target = &model->model;
    PdToken keyword = next(parser);
    if (model->key_pos.line != 0)
        return pd_model_error_at(parser->err, keyword.pos,
                                 "directive \"primary_key\" given twice, expected it at most once per model");
    model->key_pos = keyword.pos;
    next(parser); /* "(" */
    size_t capacity = 0, pos_capacity = 0;
    do
    {
        size_t count = target->key_field_count;
        const char **fields = reserve(parser, target->key_fields, count, &capacity, sizeof(const char *));
        PdSourcePos *positions =
            reserve(parser, model->key_field_pos, count, &pos_capacity, sizeof(PdSourcePos));
        if (fields == NULL || positions == NULL)
            return fail_memory(parser);
        target->key_fields = fields;
        model->key_field_pos = positions;
        PdToken name = {0};
        if (!expect(parser, PD_TOKEN_IDENT, "a field name in primary_key(...)", &name))
            return false;
        fields[count] = name.text;
        positions[count] = name.pos;
        target->key_field_count++;
    } while (is_token(parser, 0, PD_TOKEN_COMMA) && (next(parser), true));
    return expect(parser, PD_TOKEN_RPAREN, "\",\" or \")\" in the field list of primary_key", NULL);
}

/* table "x", resource "x", renamed_from Old: once each. */
static bool
parse_single(Parser *parser, const char **value, PdSourcePos *pos)
{
    PdToken keyword = next(parser);
    if (*value != NULL)
        return pd_model_error_at(parser->err, keyword.pos,
                                 "directive \"%s\" given twice, expected it at most once per model",
                                 keyword.text);
    PdToken token = next(parser);
    *value = token.text;
    *pos = token.pos;
    return true;
}

/*
 * Whether a line starting with a reserved word is that directive: the words
 * that follow tell, so that `index string(20)` reads as a misnamed field
 * rather than a broken index(...) directive.
 */
static bool
is_directive(Parser *parser, const char *word)
{
    const PdToken *second = peek(parser, 1);
    if (strcmp(word, "unique") == 0 || strcmp(word, "index") == 0)
        return second->kind == PD_TOKEN_LPAREN;
    if (strcmp(word, "table") == 0 || strcmp(word, "resource") == 0)
        return second->kind == PD_TOKEN_STRING;
    if (strcmp(word, "ordering") == 0)
        return second->kind == PD_TOKEN_MINUS || second->kind == PD_TOKEN_NEWLINE ||
               (second->kind == PD_TOKEN_IDENT && !(second->text[0] >= 'A' && second->text[0] <= 'Z') &&
                (is_line_end(parser, 2) || is_token(parser, 2, PD_TOKEN_COMMA)));
    if (strcmp(word, "renamed_from") == 0)
        return second->kind == PD_TOKEN_IDENT && is_line_end(parser, 2);
    if (strcmp(word, "access") == 0) /* not reserved: a field may still be called access */
        return second->kind == PD_TOKEN_IDENT && is_token(parser, 2, PD_TOKEN_EQ);
    return false;
}

static bool
is_reserved(const char *word)
{
    static const char *reserved[] = {"ordering", "table", "resource", "unique", "index", "renamed_from"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(reserved[i], word) == 0)
            return true;
    return false;
}

static bool
parse_line(Parser *parser, PdModelSyntax *model, size_t *field_capacity, size_t *index_capacity)
{
    if (!is_token(parser, 0, PD_TOKEN_IDENT))
        return unexpected(parser, "a field name, a directive or \"}\"");
    const PdToken *first = peek(parser, 0);
    const char *word = first->text;
    bool is_directive_line = is_reserved(word) && is_directive(parser, word);
    if (is_reserved(word) && !is_directive_line &&
        (is_token(parser, 1, PD_TOKEN_ERROR) || is_token(parser, 2, PD_TOKEN_ERROR)))
        return lexical_error(parser, is_token(parser, 1, PD_TOKEN_ERROR) ? 1 : 2); /* the text after the word
                                                                                      does not even lex */
    if (is_reserved(word) && !is_directive_line)
        return pd_model_error_at(
            parser->err, first->pos,
            "reserved word \"%s\" used as a field name, expected another name (ordering, table, "
            "resource, unique, index and renamed_from are directives)",
            word);
    if (strcmp(word, "ordering") == 0)
        return parse_ordering(parser, model);
    if (strcmp(word, "access") == 0 && is_directive(parser, word))
        return parse_access(parser, model);
    if (strcmp(word, "check") == 0 && is_token(parser, 1, PD_TOKEN_LPAREN)) /* not reserved: a field may be
                                                                               called check */
        return parse_model_check(parser, model);
    if (strcmp(word, "unique") == 0 || strcmp(word, "index") == 0)
        return parse_index(parser, model, index_capacity);
    if (strcmp(word, "primary_key") == 0 && is_token(parser, 1, PD_TOKEN_LPAREN)) /* not reserved: a field
                                                                                     may be called so */
        return parse_key(parser, model);
    if (strcmp(word, "table") == 0)
        return parse_single(parser, &model->model.table, &model->table_pos);
    if (strcmp(word, "resource") == 0)
        return parse_single(parser, &model->model.resource, &model->resource_pos);
    if (strcmp(word, "renamed_from") == 0)
        return parse_single(parser, &model->model.renamed_from, &model->renamed_from_pos);
    if (strcmp(word, "comment") == 0 && is_token(parser, 1, PD_TOKEN_STRING)) /* not reserved: a field may be
                                                                                 called comment */
        return parse_single(parser, &model->model.comment, &model->comment_pos);
    PdFieldSyntax *fields =
        reserve(parser, model->fields, model->field_count, field_capacity, sizeof(PdFieldSyntax));
    if (fields == NULL)
        return fail_memory(parser);
    model->fields = fields;
    PdFieldSyntax *field = &model->fields[model->field_count];
    memset(field, 0, sizeof(*field));
    if (!parse_field(parser, field))
        return false;
    model->field_count++;
    return true;
}

/*
 * Moves the problem just raised into the list. False when parsing must stop
 * (memory ran out: parser->err holds that error).
 */
static bool
report(Parser *parser)
{
    if (parser->is_fatal)
        return false;
    PdError *raised = parser->err;
    if (parser->problems->code == PD_OK)
        *parser->problems = *raised;
    else
        for (size_t i = 0; i < raised->problem_count; i++)
            pd_error_add_problem(parser->problems, raised->problems[i].pos.file, raised->problems[i].pos.line,
                                 raised->problems[i].pos.column, raised->problems[i].field, "%s",
                                 raised->problems[i].message);
    pd_error_clear(raised);
    return true;
}

/* Skips the rest of a broken line, up to its end, a "}" or the end of the file. */
static void
skip_line(Parser *parser)
{
    while (!is_line_end(parser, 0) && !parser->lexer.failed)
        next(parser);
}

/* Skips to the next line that starts with "model", or to the end of the file. */
static void
skip_to_model(Parser *parser)
{
    while (!is_token(parser, 0, PD_TOKEN_EOF) && !parser->lexer.failed)
    {
        bool is_line_start = is_token(parser, 0, PD_TOKEN_NEWLINE);
        next(parser);
        if (is_line_start && (is_word(parser, 0, "model") || is_word(parser, 0, "abstract")))
            return;
    }
}

/* A line "model Name {" (or "model Name extends", "abstract model Name") inside a model: the "}" before it is
 * missing. */
static bool
starts_model(Parser *parser)
{
    if (is_word(parser, 0, "abstract") && is_word(parser, 1, "model") && is_token(parser, 2, PD_TOKEN_IDENT))
        return true;
    return is_word(parser, 0, "model") && is_token(parser, 1, PD_TOKEN_IDENT) &&
           (is_token(parser, 2, PD_TOKEN_LBRACE) || is_word(parser, 2, "extends"));
}

/* "extends A, B" after a model's name: the abstract models it extends. False on a problem (raised). */
static bool
parse_bases(Parser *parser, PdModelSyntax *model)
{
    size_t capacity = 0, pos_capacity = 0;
    next(parser); /* "extends" */
    do
    {
        PdToken base = {0};
        if (!expect(parser, PD_TOKEN_IDENT, "the name of an abstract model after \"extends\"", &base))
            return false;
        const char **bases = reserve(parser, model->bases, model->base_count, &capacity, sizeof(char *));
        PdSourcePos *pos =
            reserve(parser, model->base_pos, model->base_count, &pos_capacity, sizeof(PdSourcePos));
        if (bases == NULL || pos == NULL)
            return fail_memory(parser);
        model->bases = bases;
        model->base_pos = pos;
        model->bases[model->base_count] = base.text;
        model->base_pos[model->base_count++] = base.pos;
    } while (is_token(parser, 0, PD_TOKEN_COMMA) && (next(parser), true));
    return true;
}

/* Reports a model whose "{" at brace is not closed before the end of the file or the next model. */
static bool
unclosed(Parser *parser, const PdModelSyntax *model, PdSourcePos brace)
{
    const PdToken *token = peek(parser, 0);
    pd_model_error_at(parser->err, token->pos,
                      "model %s opened at %s:%d:%d is not closed, expected \"}\" before %s",
                      model->model.name, brace.file != NULL ? brace.file : "models", brace.line, brace.column,
                      token->kind == PD_TOKEN_EOF ? "the end of the file" : "the next model");
    return report(parser);
}

/*
 * The lines up to the model's "}" (*is_closed) or to where it should have
 * been; a broken line is reported and skipped. False when parsing must stop.
 */
static bool
parse_body(Parser *parser, PdModelSyntax *model, PdSourcePos brace, bool *is_closed)
{
    *is_closed = false;
    size_t index_capacity = 0;
    model->fields = parser->scratch_fields;
    for (;;)
    {
        if (is_token(parser, 0, PD_TOKEN_NEWLINE))
            next(parser);
        if (is_token(parser, 0, PD_TOKEN_RBRACE))
        {
            next(parser);
            *is_closed = true;
            return true;
        }
        if (is_token(parser, 0, PD_TOKEN_EOF) || starts_model(parser))
            return unclosed(parser, model, brace);
        bool is_ok = parse_line(parser, model, &parser->scratch_capacity, &index_capacity);
        parser->scratch_fields = model->fields; /* it may have moved */
        if (is_ok && !is_line_end(parser, 0))
            is_ok = unexpected(parser, "the end of the line");
        if (!is_ok && !report(parser))
            return false;
        if (!is_ok)
            skip_line(parser);
    }
}

/* The model's name and "{"; a broken header is reported and, when no "{" follows on its line, the model
 * is skipped. *has_body tells whether a body follows. False when parsing must stop. */
static bool
parse_header(Parser *parser, PdModelSyntax *model, PdSourcePos *brace, bool *has_body)
{
    model->model.pos = next(parser).pos; /* "model" */
    model->model.name = "?";
    PdToken name = {0}, open = {0};
    *has_body = true;
    if (expect(parser, PD_TOKEN_IDENT, "a model name such as Book", &name))
    {
        model->model.name = name.text;
        model->model.pos = name.pos;
        bool is_ok = !is_word(parser, 0, "extends") || parse_bases(parser, model);
        if (parser->is_fatal)
            return false;
        if (is_ok && expect(parser, PD_TOKEN_LBRACE, "\"{\" after the model name", &open))
        {
            *brace = open.pos;
            return true;
        }
    }
    if (!report(parser))
        return false;
    while (!is_line_end(parser, 0) && !is_token(parser, 0, PD_TOKEN_LBRACE) && !parser->lexer.failed)
        next(parser);
    *has_body = is_token(parser, 0, PD_TOKEN_LBRACE); /* "model {": still read the body for its problems */
    if (*has_body)
        *brace = next(parser).pos;
    else
        skip_to_model(parser);
    return true;
}

/* One model; its problems are reported as found. False when parsing must stop. */
static bool
parse_model(Parser *parser, PdModelSyntax *model)
{
    memset(model, 0, sizeof(*model));
    if (is_word(parser, 0, "abstract"))
    {
        model->is_abstract = true;
        next(parser);
    }
    PdSourcePos brace = {0};
    bool has_body, is_closed = false;
    if (!parse_header(parser, model, &brace, &has_body))
        return false;
    if (has_body && !parse_body(parser, model, brace, &is_closed))
        return false;
    model->fields = pd_arena_alloc(parser->arena, (model->field_count + 1) * sizeof(PdFieldSyntax));
    if (model->fields == NULL)
        return fail_memory(parser);
    if (model->field_count > 0)
        memcpy(model->fields, parser->scratch_fields, model->field_count * sizeof(PdFieldSyntax));
    if (is_closed && !is_token(parser, 0, PD_TOKEN_NEWLINE) && !is_token(parser, 0, PD_TOKEN_EOF))
    {
        unexpected(parser, "the end of the line after \"}\"");
        if (!report(parser))
            return false;
        skip_line(parser);
    }
    return true;
}

bool
pd_model_parse_syntax(PdArena *arena, const char *file_name, const char *text, PdFileSyntax *syntax,
                      PdError *err)
{
    PdError raised, problems;
    pd_error_clear(&raised);
    pd_error_clear(&problems);
    Parser parser = {.arena = arena, .err = &raised, .problems = &problems};
    pd_model_lexer_init(&parser.lexer, arena, file_name, text);
    PdFileSyntax result = {0};
    size_t capacity = 0;
    while (!parser.is_fatal)
    {
        if (is_token(&parser, 0, PD_TOKEN_NEWLINE))
            next(&parser);
        if (is_token(&parser, 0, PD_TOKEN_EOF))
            break;
        if (!is_word(&parser, 0, "model") &&
            !(is_word(&parser, 0, "abstract") && is_word(&parser, 1, "model")))
        {
            unexpected(&parser, "\"model\" to start a model");
            if (report(&parser))
                skip_to_model(&parser);
            continue;
        }
        PdModelSyntax *models =
            reserve(&parser, result.models, result.model_count, &capacity, sizeof(PdModelSyntax));
        if (models == NULL)
        {
            fail_memory(&parser);
            break;
        }
        result.models = models;
        if (parse_model(&parser, &result.models[result.model_count]))
            result.model_count++;
    }
    if (parser.is_fatal)
        *err = raised;
    else if (problems.code != PD_OK)
        *err = problems;
    else
        *syntax = result;
    return !parser.is_fatal && problems.code == PD_OK;
}
