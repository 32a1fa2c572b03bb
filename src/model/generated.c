/*
 * generated.c - the value expression of a generated field, generated(...): a
 * column the database computes from the other columns of its row (Django 5's
 * GeneratedField with db_persist=True, PostgreSQL's GENERATED ALWAYS AS (...)
 * STORED). Its grammar over the lexer's tokens, with SQL's binding strengths,
 * and its meaning in a model: every name a field with a column that is not
 * generated itself (PostgreSQL refuses that), numbers meet numbers, || meets
 * only text (PostgreSQL's || over other types is not immutable, and a
 * generation expression must be), a short list of immutable functions, and a
 * result assignable to the field's declared type. The tree is all the planner
 * gets: it renders the SQL from it, never from the text.
 *
 *   value   = sum { "||" sum }
 *   sum     = product { ("+" | "-") product }
 *   product = unary { ("*" | "/") unary }
 *   unary   = "-" unary | primary
 *   primary = "(" value ")" | function "(" value { "," value } ")"
 *           | field | number | string | true | false | null
 *   function = lower | upper | length | abs | round | coalesce
 */
#include <string.h>

#include "lexer.h"
#include "syntax.h"

typedef struct ValueParser
{
    PdArena *arena;
    PdLexer *lexer;
    PdError *err;
    bool *is_memory;
    int depth;
} ValueParser;

/* Deep enough for any expression a person writes; bounded so a hostile file cannot exhaust the stack. */
#define VALUE_DEPTH_MAX 64
/* coalesce(...) takes any number of arguments; more than this is not an expression a person writes. */
#define VALUE_ARGS_MAX 16

static const PdToken *
peek(ValueParser *parser, size_t offset)
{
    return pd_model_lexer_peek(parser->lexer, offset);
}

static bool
fail_memory(ValueParser *parser)
{
    *parser->is_memory = true;
    return pd_arena_error(parser->arena, parser->err);
}

static bool
unexpected(ValueParser *parser, const char *expected)
{
    const PdToken *token = peek(parser, 0);
    if (token->kind == PD_TOKEN_ERROR && token->text != NULL)
        return pd_model_error_at(parser->err, token->pos, "%s", token->text);
    const char *found = pd_model_token_describe(parser->arena, token);
    if (found == NULL)
        return fail_memory(parser);
    return pd_model_error_at(parser->err, token->pos, "unexpected %s in a generated expression, expected %s",
                             found, expected);
}

static PdExpr *
new_expr(ValueParser *parser, PdExprKind kind, PdSourcePos pos)
{
    PdExpr *expr = pd_arena_calloc(parser->arena, 1, sizeof(PdExpr));
    if (expr == NULL)
    {
        fail_memory(parser);
        return NULL;
    }
    expr->kind = kind;
    expr->pos = pos;
    return expr;
}

static bool
enter(ValueParser *parser)
{
    if (++parser->depth <= VALUE_DEPTH_MAX)
        return true;
    return pd_model_error_at(parser->err, peek(parser, 0)->pos,
                             "generated expression nested deeper than %d, expected a simpler expression",
                             VALUE_DEPTH_MAX);
}

static bool parse_level(ValueParser *parser, int level, const PdExpr **out);

/* name "(" value { "," value } ")" */
static bool
parse_call(ValueParser *parser, const PdExpr **out)
{
    PdToken name = pd_model_lexer_next(parser->lexer);
    pd_model_lexer_next(parser->lexer); /* "(" */
    PdExpr *call = new_expr(parser, PD_EXPR_CALL, name.pos);
    const PdExpr **args = pd_arena_calloc(parser->arena, VALUE_ARGS_MAX, sizeof(PdExpr *));
    if (call == NULL || args == NULL)
        return fail_memory(parser);
    call->function = name.text;
    call->args = args;
    if (peek(parser, 0)->kind != PD_TOKEN_RPAREN)
        do
        {
            if (call->arg_count == VALUE_ARGS_MAX)
                return pd_model_error_at(parser->err, peek(parser, 0)->pos,
                                         "more than %d arguments to %s(...), expected fewer", VALUE_ARGS_MAX,
                                         name.text);
            if (!parse_level(parser, 0, &args[call->arg_count]))
                return false;
            call->arg_count++;
        } while (peek(parser, 0)->kind == PD_TOKEN_COMMA && (pd_model_lexer_next(parser->lexer), true));
    if (peek(parser, 0)->kind != PD_TOKEN_RPAREN)
        return unexpected(parser, "\",\", \")\" or an operator");
    pd_model_lexer_next(parser->lexer);
    *out = call;
    return true;
}

static bool
parse_primary(ValueParser *parser, const PdExpr **out)
{
    const PdToken *token = peek(parser, 0);
    if (token->kind == PD_TOKEN_LPAREN)
    {
        pd_model_lexer_next(parser->lexer);
        if (!parse_level(parser, 0, out))
            return false;
        if (peek(parser, 0)->kind != PD_TOKEN_RPAREN)
            return unexpected(parser, "\")\" or an operator");
        pd_model_lexer_next(parser->lexer);
        return true;
    }
    if (token->kind == PD_TOKEN_IDENT && peek(parser, 1)->kind == PD_TOKEN_LPAREN)
        return parse_call(parser, out);
    if (token->kind != PD_TOKEN_IDENT && token->kind != PD_TOKEN_NUMBER && token->kind != PD_TOKEN_STRING)
        return unexpected(parser, "a field name, a number, a string, a function such as lower(...), \"-\" or "
                                  "\"(\"");
    bool is_word = token->kind == PD_TOKEN_IDENT;
    bool is_bool = is_word && (strcmp(token->text, "true") == 0 || strcmp(token->text, "false") == 0);
    bool is_null = is_word && strcmp(token->text, "null") == 0;
    PdExpr *expr =
        new_expr(parser, is_word && !is_bool && !is_null ? PD_EXPR_FIELD : PD_EXPR_LITERAL, token->pos);
    if (expr == NULL)
        return false;
    PdToken taken = pd_model_lexer_next(parser->lexer);
    if (expr->kind == PD_EXPR_FIELD)
        expr->field = taken.text;
    else
    {
        expr->literal.kind = is_null                         ? PD_LITERAL_NULL
                             : is_bool                       ? PD_LITERAL_BOOL
                             : taken.kind == PD_TOKEN_NUMBER ? PD_LITERAL_NUMBER
                                                             : PD_LITERAL_STRING;
        expr->literal.text = taken.text;
    }
    *out = expr;
    return true;
}

static bool
parse_unary(ValueParser *parser, const PdExpr **out)
{
    if (peek(parser, 0)->kind != PD_TOKEN_MINUS)
        return parse_primary(parser, out);
    if (!enter(parser))
        return false;
    PdExpr *negate = new_expr(parser, PD_EXPR_NEGATE, pd_model_lexer_next(parser->lexer).pos);
    bool is_ok = negate != NULL && parse_unary(parser, &negate->left);
    parser->depth--;
    *out = negate;
    return is_ok;
}

/*
 * The operator of `level` next in the text (0: ||, 1: + -, 2: * /), or 0. The lexer reads "-" before digits
 * as part of a number ("a -1" is a field and the number -1): after an operand that number is a minus and a
 * positive number, so its token is cut in place (the lookahead is the lexer's own buffer).
 */
static char
binary_op(ValueParser *parser, int level)
{
    PdToken *token = (PdToken *)peek(parser, 0);
    if (level == 0)
        return token->kind == PD_TOKEN_CONCAT ? '|' : 0;
    if (level == 2)
        return token->kind == PD_TOKEN_STAR ? '*' : token->kind == PD_TOKEN_SLASH ? '/' : 0;
    if (token->kind == PD_TOKEN_PLUS)
        return '+';
    if (token->kind == PD_TOKEN_MINUS)
        return '-';
    if (token->kind == PD_TOKEN_NUMBER && token->text[0] == '-')
    {
        token->text++;
        token->pos.column++;
        return 'n';
    }
    return 0;
}

/* Left-associative chains: || over sums over products over unary terms. */
static bool
parse_level(ValueParser *parser, int level, const PdExpr **out)
{
    if (level == 3)
        return parse_unary(parser, out);
    if (!enter(parser))
        return false;
    const PdExpr *left = NULL;
    bool is_ok = parse_level(parser, level + 1, &left);
    char op;
    int joins = 0; /* each one deepens the tree the later walks recurse over: counted as nesting */
    while (is_ok && (op = binary_op(parser, level)) != 0 && (is_ok = enter(parser)))
    {
        joins++;
        PdSourcePos pos = peek(parser, 0)->pos;
        if (op == 'n') /* the minus of a cut number: the number itself is the next operand */
            pos.column--, op = '-';
        else
            pd_model_lexer_next(parser->lexer);
        PdExpr *joined = new_expr(parser, PD_EXPR_ARITH, pos);
        is_ok = joined != NULL && parse_level(parser, level + 1, &joined->right);
        if (is_ok)
        {
            joined->arith = op;
            joined->left = left;
            left = joined;
        }
    }
    parser->depth -= joins + 1;
    *out = left;
    return is_ok;
}

bool
pd_model_parse_value_expr(PdArena *arena, PdLexer *lexer, const PdExpr **out, bool *is_memory, PdError *err)
{
    ValueParser parser = {.arena = arena, .lexer = lexer, .err = err, .is_memory = is_memory};
    const PdExpr *expr = NULL;
    if (!parse_level(&parser, 0, &expr))
        return false;
    *out = expr;
    return true;
}

/* ---- meaning ---- */

/* What a value is, as far as the operators care. OTHER carries a kind (a date field copied as it is). */
typedef enum ValueClass
{
    VALUE_NULL,
    VALUE_INTEGER,
    VALUE_NUMERIC,
    VALUE_TEXT,
    VALUE_BOOL,
    VALUE_OTHER
} ValueClass;

typedef struct ValueType
{
    ValueClass class;
    PdFieldKind kind; /* VALUE_OTHER */
} ValueType;

typedef struct Typing
{
    const PdModel *model;
    const PdField *field; /* the generated field */
    PdError *err;
} Typing;

static const char *
class_name(ValueType type)
{
    static const char *names[] = {"null", "integer", "decimal", "text", "bool"};
    return type.class == VALUE_OTHER ? pd_model_kind_name(type.kind) : names[type.class];
}

static bool
is_number(ValueType type)
{
    return type.class == VALUE_INTEGER || type.class == VALUE_NUMERIC || type.class == VALUE_NULL;
}

static bool type_of(Typing *typing, const PdExpr *expr, ValueType *out);

static bool
type_of_field(Typing *typing, const PdExpr *expr, ValueType *out)
{
    const PdField *used = pd_model_find_field(typing->model, expr->field);
    const char *name = typing->field->name;
    if (used == NULL)
        return pd_model_error_at(
            typing->err, expr->pos,
            "unknown field \"%s\" in generated field \"%s\" of model %s, expected a field "
            "of the model",
            expr->field, name, typing->model->name);
    if (used->column == NULL)
        return pd_model_error_at(
            typing->err, expr->pos,
            "many-to-many field \"%s\" in generated field \"%s\", expected a field with a "
            "column",
            expr->field, name);
    if (used == typing->field)
        return pd_model_error_at(typing->err, expr->pos,
                                 "field \"%s\" in its own generated(...), expected other fields of the model",
                                 name);
    if (used->generated != NULL)
        return pd_model_error_at(
            typing->err, expr->pos,
            "generated field \"%s\" in generated field \"%s\", expected a field that is "
            "not generated (PostgreSQL computes a generated column from stored ones only)",
            expr->field, name);
    PdColumnType type;
    if (!pd_model_column_type_of(used, &type))
        return pd_model_error_at(typing->err, expr->pos, "field \"%s\" without a column type", used->name);
    if (type.is_array)
        return pd_model_error_at(typing->err, expr->pos,
                                 "array field \"%s\" in generated field \"%s\", expected a field of a scalar "
                                 "type",
                                 expr->field, name);
    switch (pd_kind_info(type.kind)->family)
    {
        case PD_FAMILY_INTEGER:
            *out = (ValueType){VALUE_INTEGER, type.kind};
            break;
        case PD_FAMILY_NUMERIC:
            *out = (ValueType){VALUE_NUMERIC, type.kind};
            break;
        case PD_FAMILY_TEXT:
            *out = (ValueType){VALUE_TEXT, type.kind};
            break;
        case PD_FAMILY_BOOLEAN:
            *out = (ValueType){VALUE_BOOL, type.kind};
            break;
        default:
            *out = (ValueType){VALUE_OTHER, type.kind};
            break;
    }
    return true;
}

static ValueType
type_of_literal(const PdLiteral *literal)
{
    switch (literal->kind)
    {
        case PD_LITERAL_NUMBER:
            return (ValueType){strpbrk(literal->text, ".eE") != NULL ? VALUE_NUMERIC : VALUE_INTEGER,
                               PD_FIELD_INT};
        case PD_LITERAL_STRING:
            return (ValueType){VALUE_TEXT, PD_FIELD_TEXT};
        case PD_LITERAL_BOOL:
            return (ValueType){VALUE_BOOL, PD_FIELD_BOOL};
        case PD_LITERAL_ARRAY: /* the value grammar has none */
            return (ValueType){VALUE_OTHER, PD_FIELD_TEXT};
        case PD_LITERAL_NULL:
            break;
    }
    return (ValueType){VALUE_NULL, PD_FIELD_TEXT};
}

/* Two types that meet (arithmetic, coalesce): null takes the other's, integer and decimal make decimal. */
static bool
unify(ValueType a, ValueType b, ValueType *out)
{
    if (a.class == VALUE_NULL || b.class == VALUE_NULL)
        *out = a.class == VALUE_NULL ? b : a;
    else if (is_number(a) && is_number(b))
        *out = a.class == VALUE_NUMERIC ? a : b;
    else if (a.class == b.class && (a.class != VALUE_OTHER || a.kind == b.kind))
        *out = a;
    else
        return false;
    return true;
}

static bool
type_of_arith(Typing *typing, const PdExpr *expr, ValueType *out)
{
    ValueType left, right;
    if (!type_of(typing, expr->left, &left) || !type_of(typing, expr->right, &right))
        return false;
    if (expr->arith == '|')
    {
        if ((left.class != VALUE_TEXT && left.class != VALUE_NULL) ||
            (right.class != VALUE_TEXT && right.class != VALUE_NULL))
            return pd_model_error_at(typing->err, expr->pos,
                                     "\"||\" between %s and %s in generated field \"%s\", expected text on "
                                     "both sides",
                                     class_name(left), class_name(right), typing->field->name);
        *out = (ValueType){VALUE_TEXT, PD_FIELD_TEXT};
        return true;
    }
    if (!is_number(left) || !is_number(right))
        return pd_model_error_at(
            typing->err, expr->pos,
            "\"%c\" between %s and %s in generated field \"%s\", expected numbers on both "
            "sides (\"||\" joins text)",
            expr->arith, class_name(left), class_name(right), typing->field->name);
    return unify(left, right, out);
}

/* The functions: name, arguments (at least, at most; 0 for any number), what they take and give. */
static const struct
{
    const char *name;
    size_t min_args, max_args;
    ValueClass takes; /* VALUE_NULL: any, all of one type (coalesce) */
    ValueClass gives; /* VALUE_NULL: the type of the first argument (abs, coalesce) */
} functions[] = {
    {"lower", 1, 1, VALUE_TEXT, VALUE_TEXT},       {"upper", 1, 1, VALUE_TEXT, VALUE_TEXT},
    {"length", 1, 1, VALUE_TEXT, VALUE_INTEGER},   {"abs", 1, 1, VALUE_NUMERIC, VALUE_NULL},
    {"round", 1, 2, VALUE_NUMERIC, VALUE_NUMERIC}, {"coalesce", 1, 0, VALUE_NULL, VALUE_NULL},
};

static bool
type_of_call(Typing *typing, const PdExpr *expr, ValueType *out)
{
    size_t f = 0, count = sizeof(functions) / sizeof(functions[0]);
    while (f < count && strcmp(functions[f].name, expr->function) != 0)
        f++;
    if (f == count)
        return pd_model_error_at(typing->err, expr->pos,
                                 "unknown function \"%s\" in generated field \"%s\", expected lower, upper, "
                                 "length, abs, round or coalesce",
                                 expr->function, typing->field->name);
    if (expr->arg_count < functions[f].min_args ||
        (functions[f].max_args > 0 && expr->arg_count > functions[f].max_args))
        return pd_model_error_at(typing->err, expr->pos, "%s(...) with %zu arguments, expected %s",
                                 expr->function, expr->arg_count,
                                 functions[f].max_args == 0   ? "at least one"
                                 : functions[f].max_args == 2 ? "one or two (round(x) or round(x, digits))"
                                                              : "one");
    ValueType type = {VALUE_NULL, PD_FIELD_TEXT};
    for (size_t i = 0; i < expr->arg_count; i++)
    {
        ValueType arg;
        if (!type_of(typing, expr->args[i], &arg))
            return false;
        bool is_ok =
            functions[f].takes == VALUE_NULL ? unify(type, arg, &type)
            : functions[f].takes == VALUE_TEXT
                ? arg.class == VALUE_TEXT || arg.class == VALUE_NULL
                : is_number(arg) && (i == 0 || arg.class == VALUE_INTEGER || arg.class == VALUE_NULL);
        if (!is_ok)
            return pd_model_error_at(typing->err, expr->args[i]->pos,
                                     "%s in argument %zu of %s(...) in generated field \"%s\", expected %s",
                                     class_name(arg), i + 1, expr->function, typing->field->name,
                                     functions[f].takes == VALUE_NULL   ? "arguments of one type"
                                     : functions[f].takes == VALUE_TEXT ? "text"
                                     : i == 0                           ? "a number"
                                                                        : "a whole number of digits");
        if (i == 0 && functions[f].takes != VALUE_NULL)
            type = arg;
    }
    *out = functions[f].gives == VALUE_NULL ? type : (ValueType){functions[f].gives, PD_FIELD_TEXT};
    return true;
}

static bool
type_of(Typing *typing, const PdExpr *expr, ValueType *out)
{
    switch (expr->kind)
    {
        case PD_EXPR_FIELD:
            return type_of_field(typing, expr, out);
        case PD_EXPR_LITERAL:
            *out = type_of_literal(&expr->literal);
            return true;
        case PD_EXPR_ARITH:
            return type_of_arith(typing, expr, out);
        case PD_EXPR_NEGATE:
            if (!type_of(typing, expr->left, out))
                return false;
            if (!is_number(*out))
                return pd_model_error_at(typing->err, expr->pos,
                                         "\"-\" before %s in generated field \"%s\", expected a number",
                                         class_name(*out), typing->field->name);
            return true;
        case PD_EXPR_CALL:
            return type_of_call(typing, expr, out);
        default: /* conditions never come from the value parser */
            return pd_model_error_at(typing->err, expr->pos, "a condition in generated field \"%s\"",
                                     typing->field->name);
    }
}

/* Whether a value of `type` can be stored in the generated field (PostgreSQL's assignment casts). */
static bool
is_assignable(ValueType type, const PdField *field)
{
    switch (pd_kind_info(field->kind)->family)
    {
        case PD_FAMILY_INTEGER:
        case PD_FAMILY_NUMERIC:
            return is_number(type);
        case PD_FAMILY_TEXT:
            return type.class == VALUE_TEXT || type.class == VALUE_NULL;
        case PD_FAMILY_BOOLEAN:
            return type.class == VALUE_BOOL || type.class == VALUE_NULL;
        default:
            return type.class == VALUE_NULL || (type.class == VALUE_OTHER && type.kind == field->kind);
    }
}

bool
pd_model_check_generated(const PdModel *model, const PdField *field, PdError *err)
{
    Typing typing = {.model = model, .field = field, .err = err};
    ValueType type;
    if (!type_of(&typing, field->generated, &type))
        return false;
    const PdExpr *start = field->generated; /* where the expression begins: its leftmost operand */
    while (start->kind == PD_EXPR_ARITH)
        start = start->left;
    if (!is_assignable(type, field))
        return pd_model_error_at(err, start->pos,
                                 "an expression of type %s in generated field \"%s\" of type %s, expected a "
                                 "value of the field's type",
                                 class_name(type), field->name, pd_model_kind_name(field->kind));
    return true;
}
