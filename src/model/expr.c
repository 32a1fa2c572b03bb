/*
 * expr.c - the small expression language of conditions: model-level
 * check(...) and the where of a partial index. Its grammar over the lexer's
 * tokens, the meaning of a parsed tree in a model (every field exists and has
 * a column, every comparison meets comparable types, literals are valid
 * values of the field they meet) and the derived name of a check. The tree is
 * all the planner gets: it renders SQL from it (quoted identifiers, literals
 * typed by their field), so no text of the model file reaches SQL as written.
 *
 *   expr    = and { "or" and }
 *   and     = not { "and" not }
 *   not     = "not" not | term
 *   term    = "(" expr ")" | operand [ op operand | "is" [ "not" ] "null" ]
 *   operand = field | number | string | true | false | null
 *   op      = "=" | "!=" | "<" | "<=" | ">" | ">="
 */
#include <string.h>

#include "lexer.h"
#include "prodata/strbuf.h"
#include "syntax.h"

typedef struct ExprParser
{
    PdArena *arena;
    PdLexer *lexer;
    PdError *err;
    bool *is_memory;
    int depth;
} ExprParser;

/* Deep enough for any check a person writes; bounded so a hostile file cannot exhaust the stack. */
#define EXPR_DEPTH_MAX 64

static const PdToken *
peek(ExprParser *parser, size_t offset)
{
    return pd_model_lexer_peek(parser->lexer, offset);
}

static bool
is_word(ExprParser *parser, size_t offset, const char *word)
{
    const PdToken *token = peek(parser, offset);
    return token->kind == PD_TOKEN_IDENT && strcmp(token->text, word) == 0;
}

static bool
unexpected(ExprParser *parser, const char *expected)
{
    const PdToken *token = peek(parser, 0);
    if (token->kind == PD_TOKEN_ERROR && token->text != NULL)
        return pd_model_error_at(parser->err, token->pos, "%s", token->text);
    const char *found = pd_model_token_describe(parser->arena, token);
    if (found == NULL)
    {
        *parser->is_memory = true;
        return pd_arena_error(parser->arena, parser->err);
    }
    return pd_model_error_at(parser->err, token->pos, "unexpected %s in a condition, expected %s", found,
                             expected);
}

static PdExpr *
new_expr(ExprParser *parser, PdExprKind kind, PdSourcePos pos)
{
    PdExpr *expr = pd_arena_calloc(parser->arena, 1, sizeof(PdExpr));
    if (expr == NULL)
    {
        *parser->is_memory = true;
        pd_arena_error(parser->arena, parser->err);
        return NULL;
    }
    expr->kind = kind;
    expr->pos = pos;
    return expr;
}

static bool parse_or(ExprParser *parser, const PdExpr **out);

static bool
parse_operand(ExprParser *parser, const PdExpr **out)
{
    const PdToken *token = peek(parser, 0);
    PdExpr *expr = NULL;
    if (token->kind == PD_TOKEN_NUMBER || token->kind == PD_TOKEN_STRING)
    {
        if ((expr = new_expr(parser, PD_EXPR_LITERAL, token->pos)) == NULL)
            return false;
        expr->literal.kind = token->kind == PD_TOKEN_NUMBER ? PD_LITERAL_NUMBER : PD_LITERAL_STRING;
    }
    else if (is_word(parser, 0, "true") || is_word(parser, 0, "false") || is_word(parser, 0, "null"))
    {
        if ((expr = new_expr(parser, PD_EXPR_LITERAL, token->pos)) == NULL)
            return false;
        expr->literal.kind = is_word(parser, 0, "null") ? PD_LITERAL_NULL : PD_LITERAL_BOOL;
    }
    else if (token->kind == PD_TOKEN_IDENT && strcmp(token->text, "and") != 0 &&
             strcmp(token->text, "or") != 0 && strcmp(token->text, "not") != 0 &&
             strcmp(token->text, "is") != 0)
    {
        if ((expr = new_expr(parser, PD_EXPR_FIELD, token->pos)) == NULL)
            return false;
        expr->field = token->text;
    }
    else
        return unexpected(parser, "a field name, a number, a string, true, false, null, not or \"(\"");
    expr->literal.text = pd_model_lexer_next(parser->lexer).text;
    if (expr->kind == PD_EXPR_FIELD)
        expr->literal.text = NULL;
    *out = expr;
    return true;
}

static bool
parse_term(ExprParser *parser, const PdExpr **out)
{
    static const PdTokenKind ops[] = {PD_TOKEN_EQ, PD_TOKEN_NE, PD_TOKEN_LT,
                                      PD_TOKEN_LE, PD_TOKEN_GT, PD_TOKEN_GE};
    if (peek(parser, 0)->kind == PD_TOKEN_LPAREN)
    {
        pd_model_lexer_next(parser->lexer);
        if (!parse_or(parser, out))
            return false;
        if (peek(parser, 0)->kind != PD_TOKEN_RPAREN)
            return unexpected(parser, "\")\", and, or or a comparison");
        pd_model_lexer_next(parser->lexer);
        return true;
    }
    const PdExpr *left;
    if (!parse_operand(parser, &left))
        return false;
    if (is_word(parser, 0, "is"))
    {
        PdSourcePos pos = pd_model_lexer_next(parser->lexer).pos;
        bool is_not = is_word(parser, 0, "not") && (pd_model_lexer_next(parser->lexer), true);
        if (!is_word(parser, 0, "null"))
            return unexpected(parser, is_not ? "null after \"is not\"" : "null or not null after \"is\"");
        pd_model_lexer_next(parser->lexer);
        PdExpr *test = new_expr(parser, is_not ? PD_EXPR_IS_NOT_NULL : PD_EXPR_IS_NULL, pos);
        if (test == NULL)
            return false;
        test->left = left;
        *out = test;
        return true;
    }
    size_t op = 0;
    while (op < 6 && peek(parser, 0)->kind != ops[op])
        op++;
    if (op == 6)
    {
        *out = left;
        return true;
    }
    PdExpr *compare = new_expr(parser, PD_EXPR_COMPARE, pd_model_lexer_next(parser->lexer).pos);
    if (compare == NULL)
        return false;
    compare->op = (PdCheckOp)op;
    compare->left = left;
    if (!parse_operand(parser, &compare->right))
        return false;
    *out = compare;
    return true;
}

static bool
parse_not(ExprParser *parser, const PdExpr **out)
{
    if (!is_word(parser, 0, "not"))
        return parse_term(parser, out);
    if (++parser->depth > EXPR_DEPTH_MAX)
        return pd_model_error_at(parser->err, peek(parser, 0)->pos,
                                 "condition nested deeper than %d, expected a simpler expression",
                                 EXPR_DEPTH_MAX);
    PdExpr *expr = new_expr(parser, PD_EXPR_NOT, pd_model_lexer_next(parser->lexer).pos);
    bool is_ok = expr != NULL && parse_not(parser, &expr->left);
    parser->depth--;
    *out = expr;
    return is_ok;
}

/* and / or: left-associative chains of the next level down. */
static bool
parse_chain(ExprParser *parser, const char *word, PdExprKind kind,
            bool (*next)(ExprParser *, const PdExpr **), const PdExpr **out)
{
    if (++parser->depth > EXPR_DEPTH_MAX)
        return pd_model_error_at(parser->err, peek(parser, 0)->pos,
                                 "condition nested deeper than %d, expected a simpler expression",
                                 EXPR_DEPTH_MAX);
    const PdExpr *left;
    bool is_ok = next(parser, &left);
    int joins = 0; /* each one deepens the tree the later walks recurse over: counted as nesting */
    while (is_ok && is_word(parser, 0, word))
    {
        if (++parser->depth > EXPR_DEPTH_MAX)
        {
            is_ok = pd_model_error_at(
                parser->err, peek(parser, 0)->pos,
                "condition of more than %d terms or levels, expected a simpler expression", EXPR_DEPTH_MAX);
            break;
        }
        joins++;
        PdExpr *joined = new_expr(parser, kind, pd_model_lexer_next(parser->lexer).pos);
        is_ok = joined != NULL && next(parser, &joined->right);
        if (is_ok)
        {
            joined->left = left;
            left = joined;
        }
    }
    parser->depth -= joins + 1;
    *out = left;
    return is_ok;
}

static bool
parse_and(ExprParser *parser, const PdExpr **out)
{
    return parse_chain(parser, "and", PD_EXPR_AND, parse_not, out);
}

static bool
parse_or(ExprParser *parser, const PdExpr **out)
{
    return parse_chain(parser, "or", PD_EXPR_OR, parse_and, out);
}

bool
pd_model_parse_expr(PdArena *arena, PdLexer *lexer, const PdExpr **out, bool *is_memory, PdError *err)
{
    ExprParser parser = {.arena = arena, .lexer = lexer, .err = err, .is_memory = is_memory};
    const PdExpr *expr = NULL;
    if (!parse_or(&parser, &expr))
        return false;
    *out = expr;
    return true;
}

/* ---- meaning ---- */

/* What a column's values compare as: kinds of one class compare with each other. */
static int
compare_class(const PdColumnType *type)
{
    switch (pd_kind_info(type->kind)->family)
    {
        case PD_FAMILY_INTEGER:
        case PD_FAMILY_NUMERIC:
            return 1;
        case PD_FAMILY_TEXT:
            return 2;
        case PD_FAMILY_BOOLEAN:
            return 3;
        case PD_FAMILY_UUID:
            return 4;
        case PD_FAMILY_NETWORK: /* inet and cidr compare with each other */
            return 8;
        case PD_FAMILY_TEMPORAL: /* a date compares with a timestamptz; time and interval only with their own
                                  */
            return type->kind == PD_FIELD_DATE || type->kind == PD_FIELD_TIMESTAMPTZ ? 5
                   : type->kind == PD_FIELD_TIME                                     ? 6
                                                                                     : 7;
        default:
            return 0; /* json, binary: is null only */
    }
}

static bool
resolve_field(const PdModel *model, const PdExpr *expr, const PdField **field, PdError *err)
{
    *field = pd_model_find_field(model, expr->field);
    if (*field == NULL)
        return pd_model_error_at(err, expr->pos,
                                 "unknown field \"%s\" in a condition of model %s, expected a field "
                                 "of the model",
                                 expr->field, model->name);
    if ((*field)->column == NULL)
        return pd_model_error_at(
            err, expr->pos,
            "many-to-many field \"%s\" in a condition of model %s, expected a field with a "
            "column",
            expr->field, model->name);
    return true;
}

static bool
check_compare(const PdModel *model, const PdExpr *expr, PdError *err)
{
    const PdExpr *left = expr->left, *right = expr->right;
    if (left->kind == PD_EXPR_LITERAL && right->kind == PD_EXPR_LITERAL)
        return pd_model_error_at(err, expr->pos,
                                 "a comparison of two literals in a condition, expected a field "
                                 "on one side");
    const PdExpr *lit = left->kind == PD_EXPR_LITERAL ? left : right->kind == PD_EXPR_LITERAL ? right : NULL;
    if (lit != NULL && lit->literal.kind == PD_LITERAL_NULL)
        return pd_model_error_at(
            err, lit->pos, "null in a comparison in a condition, expected \"is null\" or \"is not null\"");
    const PdField *a, *b = NULL;
    if (!resolve_field(model, left->kind == PD_EXPR_FIELD ? left : right, &a, err))
        return false;
    if (lit == NULL && !resolve_field(model, right, &b, err))
        return false;
    PdColumnType type_a, type_b;
    if (!pd_model_column_type_of(a, &type_a))
        return pd_model_error_at(err, expr->pos, "field \"%s\" without a column type", a->name);
    if (a->is_array || (b != NULL && b->is_array))
        return pd_model_error_at(
            err, expr->pos,
            "a comparison of array field \"%s\" in a condition, expected only \"is null\" "
            "or \"is not null\" on an array field",
            a->is_array ? a->name : b->name);
    if (compare_class(&type_a) == 0)
        return pd_model_error_at(err, expr->pos,
                                 "a comparison of field \"%s\" of type %s in a condition, expected only \"is "
                                 "null\" or \"is not null\" on json and binary fields",
                                 a->name, pd_model_kind_name(a->kind));
    if (b != NULL)
    {
        if (!pd_model_column_type_of(b, &type_b) || compare_class(&type_a) != compare_class(&type_b))
            return pd_model_error_at(
                err, expr->pos,
                "a comparison of field \"%s\" (%s) with field \"%s\" (%s) in a condition, "
                "expected fields whose values compare (numbers, strings, dates, ...)",
                a->name, pd_model_kind_name(a->kind), b->name, pd_model_kind_name(b->kind));
        return true;
    }
    if (a->kind == PD_FIELD_FOREIGN_KEY || a->kind == PD_FIELD_ONE_TO_ONE)
        return pd_model_error_at(
            err, lit->pos,
            "a literal compared with relation \"%s\" in a condition, expected another field "
            "or is [not] null",
            a->name);
    PdField plain = *a; /* the literal needs the type only: no choices, no null rule */
    plain.choice_count = 0;
    plain.is_nullable = true;
    PdError inner;
    if (!pd_model_check_literal(&plain, &lit->literal, false, false, &inner))
        return pd_model_error_at(err, lit->pos, "condition of model %s on field \"%s\": %s", model->name,
                                 a->name, inner.message);
    return true;
}

/* A tree in a boolean place (the whole check, an operand of not, and, or). */
static bool
check_boolean(const PdModel *model, const PdExpr *expr, PdError *err)
{
    const PdField *field;
    switch (expr->kind)
    {
        case PD_EXPR_FIELD:
            if (!resolve_field(model, expr, &field, err))
                return false;
            if (field->kind != PD_FIELD_BOOL)
                return pd_model_error_at(
                    err, expr->pos,
                    "field \"%s\" of type %s alone in a condition, expected a bool field or "
                    "a comparison",
                    field->name, pd_model_kind_name(field->kind));
            return true;
        case PD_EXPR_LITERAL:
            return pd_model_error_at(err, expr->pos, "a literal alone in a condition, expected a comparison");
        case PD_EXPR_COMPARE:
            return check_compare(model, expr, err);
        case PD_EXPR_IS_NULL:
        case PD_EXPR_IS_NOT_NULL:
            if (expr->left->kind != PD_EXPR_FIELD)
                return pd_model_error_at(err, expr->left->pos,
                                         "a literal before \"is\" in a condition, expected a field");
            return resolve_field(model, expr->left, &field, err);
        case PD_EXPR_NOT:
            return check_boolean(model, expr->left, err);
        case PD_EXPR_AND:
        case PD_EXPR_OR:
            return check_boolean(model, expr->left, err) && check_boolean(model, expr->right, err);
        case PD_EXPR_ARITH: /* values of generated(...) only (generated.c): the condition parser makes none */
        case PD_EXPR_NEGATE:
        case PD_EXPR_CALL:
            return pd_model_error_at(err, expr->pos, "a value in a condition, expected a comparison");
    }
    return true;
}

bool
pd_model_check_expr(const PdModel *model, const PdExpr *expr, PdError *err)
{
    return check_boolean(model, expr, err);
}

/* The columns the tree names, each once, in order: "ends_starts". */
static void
append_columns(PdStrbuf *buf, const PdModel *model, const PdExpr *expr)
{
    if (expr == NULL)
        return;
    if (expr->kind == PD_EXPR_FIELD)
    {
        const PdField *field = pd_model_find_field(model, expr->field);
        const char *column = field != NULL && field->column != NULL ? field->column : expr->field;
        size_t length = strlen(column);
        for (const char *at = buf->data != NULL ? strstr(buf->data, column) : NULL; at != NULL;
             at = strstr(at + 1, column))
            if ((at == buf->data || at[-1] == '\x1f') && (at[length] == '\x1f' || at[length] == '\0'))
                return;
        if (buf->length > 0)
            pd_strbuf_append_char(buf, '\x1f');
        pd_strbuf_append(buf, column);
        return;
    }
    append_columns(buf, model, expr->left);
    append_columns(buf, model, expr->right);
}

char *
pd_model_check_name(PdArena *arena, const PdModel *model, const PdExpr *expr)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    pd_strbuf_append(&buf, "");
    append_columns(&buf, model, expr); /* separated by \x1f while collecting, so "a" never matches "a_b" */
    if (pd_strbuf_failed(&buf))
        return NULL;
    char *columns = (char *)pd_strbuf_text(&buf);
    for (char *c = columns; *c != '\0'; c++)
        if (*c == '\x1f')
            *c = '_';
    return pd_model_constraint_name(arena, model->table, columns, "check");
}
