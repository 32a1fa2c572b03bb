/*
 * format.c - the canonical text of a catalog. Migration files embed it as
 * their model state and the next makemigrations parses it back, so it must
 * re-parse to an equal catalog and be byte-stable: every derived name is
 * written out (table, resource, related, through, index names, the index
 * state of slugs and foreign keys), types use one spelling (int, bool,
 * timestamptz, email(254)), options come in one fixed order (PdOption's),
 * one space separates words and strings are escaped. The implicit id is
 * left out: the parser adds it back.
 *
 *   model Book {
 *     table "book"
 *     resource "books"
 *     title string(300) index search
 *     updated timestamptz auto_now
 *     author Author index on_delete=cascade related=book_set fk_name="book_author_fk" deferrable
 *     ordering -published, title
 *     unique(title, author) name="book_title_author_id_uniq"
 *     index(title varchar_pattern_ops) name="book_title_like"
 *     check(ends > starts or ends is null)
 *     access read=authenticated write=editor|admin
 *   }
 */
#include <stdio.h>
#include <string.h>

#include "prodata/strbuf.h"
#include "syntax.h"

static void
append_string(PdStrbuf *buf, const char *text)
{
    pd_strbuf_append_char(buf, '"');
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
    {
        switch (*p)
        {
            case '"':
                pd_strbuf_append(buf, "\\\"");
                break;
            case '\\':
                pd_strbuf_append(buf, "\\\\");
                break;
            case '\n':
                pd_strbuf_append(buf, "\\n");
                break;
            case '\t':
                pd_strbuf_append(buf, "\\t");
                break;
            case '\r':
                pd_strbuf_append(buf, "\\r");
                break;
            default:
                if (*p < 0x20 || *p == 0x7F)
                    pd_strbuf_appendf(buf, "\\u%04x", *p);
                else
                    pd_strbuf_append_char(buf, (char)*p);
        }
    }
    pd_strbuf_append_char(buf, '"');
}

void
pd_model_append_literal(PdStrbuf *buf, const PdLiteral *literal)
{
    if (literal->kind == PD_LITERAL_STRING)
        append_string(buf, literal->text);
    else if (literal->kind == PD_LITERAL_ARRAY)
    {
        pd_strbuf_append_char(buf, '[');
        for (size_t i = 0; i < literal->item_count; i++)
        {
            pd_strbuf_append(buf, i > 0 ? ", " : "");
            pd_model_append_literal(buf, &literal->items[i]);
        }
        pd_strbuf_append_char(buf, ']');
    }
    else
        pd_strbuf_append(buf, literal->kind == PD_LITERAL_NULL ? "null" : literal->text);
}

/* A string choice is written as a bare word when it reads as one. */
static bool
is_word(const char *text)
{
    if (!((text[0] >= 'a' && text[0] <= 'z') || (text[0] >= 'A' && text[0] <= 'Z') || text[0] == '_'))
        return false;
    return strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(text);
}

static void
append_default(PdStrbuf *buf, const PdDefault *value)
{
    if (value->kind == PD_DEFAULT_NONE)
        return;
    pd_strbuf_append(buf, " default=");
    if (value->kind == PD_DEFAULT_NOW)
        pd_strbuf_append(buf, "now");
    else if (value->kind == PD_DEFAULT_UUID)
        pd_strbuf_append(buf, "uuid");
    else if (value->kind == PD_DEFAULT_SERIAL)
        pd_strbuf_append(buf, "serial");
    else
        pd_model_append_literal(buf, &value->literal);
}

static void append_expr(PdStrbuf *buf, const PdExpr *expr);

static void
append_values(PdStrbuf *buf, const PdField *field)
{
    static const char *ops[] = {"=", "!=", "<", "<=", ">", ">="};
    if (field->is_auto_now_add) /* its default of now is implied */
        pd_strbuf_append(buf, " auto_now_add");
    else if (field->is_auto_now)
        pd_strbuf_append(buf, " auto_now");
    else
        append_default(buf, &field->default_value);
    if (field->generated != NULL)
    {
        pd_strbuf_append(buf, " generated(");
        append_expr(buf, field->generated);
        pd_strbuf_append_char(buf, ')');
    }
    if (field->backfill != NULL)
    {
        pd_strbuf_append(buf, " backfill=");
        pd_model_append_literal(buf, field->backfill);
    }
    for (size_t i = 0; i < field->check_count; i++)
    {
        pd_strbuf_appendf(buf, " check(%s ", ops[field->checks[i].op]);
        pd_model_append_literal(buf, &field->checks[i].value);
        pd_strbuf_append_char(buf, ')');
    }
    if (field->choice_count == 0)
        return;
    pd_strbuf_append(buf, " choices(");
    for (size_t i = 0; i < field->choice_count; i++)
    {
        const PdChoice *choice = &field->choices[i];
        if (i > 0)
            pd_strbuf_append(buf, ", ");
        if (choice->value.kind == PD_LITERAL_STRING && is_word(choice->value.text))
            pd_strbuf_append(buf, choice->value.text);
        else
            pd_model_append_literal(buf, &choice->value);
        pd_strbuf_append_char(buf, ' ');
        append_string(buf, choice->label);
    }
    pd_strbuf_append_char(buf, ')');
}

/* One field line, options in PdOption order. */
static void
append_field(PdStrbuf *buf, const PdField *field)
{
    const PdKindInfo *info = pd_kind_info(field->kind);
    bool is_relation = info->family == PD_FAMILY_RELATION && field->kind != PD_FIELD_MANY_TO_MANY;
    const char *type = pd_model_type_text(buf->arena, field);
    pd_strbuf_appendf(buf, "  %s %s", field->name, type != NULL ? type : "");
    if (field->is_primary_key)
        pd_strbuf_append(buf, " primary_key");
    if (field->kind == PD_FIELD_ONE_TO_ONE)
        pd_strbuf_append(buf, " one_to_one");
    if (field->is_nullable)
        pd_strbuf_append(buf, " null");
    if (field->is_unique && field->kind != PD_FIELD_ONE_TO_ONE)
        pd_strbuf_append(buf, " unique");
    if (field->is_indexed)
        pd_strbuf_append(buf, " index");
    else if (info->is_indexed_by_default && !field->is_unique && !field->is_primary_key && !field->is_array)
        pd_strbuf_append(buf, " no_index"); /* an array of slugs is not indexed by default */
    if (field->search == PD_SEARCH_TRIGRAM || field->search == PD_SEARCH_FULLTEXT)
        pd_strbuf_appendf(buf, " search=%s", pd_model_search_name(field->search));
    else if (field->is_searchable)
        pd_strbuf_append(buf, " search");
    if (field->search == PD_SEARCH_FULLTEXT && strcmp(field->search_config, "simple") != 0)
        pd_strbuf_appendf(buf, "(%s)", field->search_config);
    append_values(buf, field);
    if (is_relation)
        pd_strbuf_appendf(buf, " on_delete=%s", pd_model_on_delete_name(field->on_delete));
    if (is_relation || field->kind == PD_FIELD_MANY_TO_MANY)
        pd_strbuf_appendf(buf, " related=%s", field->related_name);
    if (is_relation && field->fk_name != NULL) /* only when given: a derived name follows renames */
    {
        pd_strbuf_append(buf, " fk_name=");
        append_string(buf, field->fk_name);
    }
    if (is_relation && field->is_deferrable)
        pd_strbuf_append(buf, " deferrable");
    if (field->kind == PD_FIELD_MANY_TO_MANY && field->through_model_name != NULL)
        pd_strbuf_appendf(buf, " through=%s", field->through_model_name);
    else if (field->kind == PD_FIELD_MANY_TO_MANY)
    {
        pd_strbuf_append(buf, " through=");
        append_string(buf, field->through_table);
    }
    if (field->comment != NULL)
    {
        pd_strbuf_append(buf, " comment=");
        append_string(buf, field->comment);
    }
    if (field->renamed_from != NULL)
        pd_strbuf_appendf(buf, " renamed_from=%s", field->renamed_from);
    pd_strbuf_append_char(buf, '\n');
}

/* Binding strength: or 1, and 2, not 3, a comparison 4; in a generated value || 5, + and - 6, * and / 7, a
 * unary minus 8; an operand or a call 9. */
static int
expr_level(const PdExpr *expr)
{
    switch (expr->kind)
    {
        case PD_EXPR_OR:
            return 1;
        case PD_EXPR_AND:
            return 2;
        case PD_EXPR_NOT:
            return 3;
        case PD_EXPR_COMPARE:
        case PD_EXPR_IS_NULL:
        case PD_EXPR_IS_NOT_NULL:
            return 4;
        case PD_EXPR_ARITH:
            return expr->arith == '|' ? 5 : expr->arith == '+' || expr->arith == '-' ? 6 : 7;
        case PD_EXPR_NEGATE:
            return 8;
        default:
            return 9;
    }
}

/* A sub-expression, in parentheses when it binds less than its place needs (the parser's trees are
 * left-deep, so a right operand of equal strength was parenthesized in the text). */
static void
append_operand(PdStrbuf *buf, const PdExpr *expr, int needed)
{
    bool is_wrapped = expr_level(expr) < needed;
    pd_strbuf_append(buf, is_wrapped ? "(" : "");
    append_expr(buf, expr);
    pd_strbuf_append(buf, is_wrapped ? ")" : "");
}

static void
append_expr(PdStrbuf *buf, const PdExpr *expr)
{
    static const char *ops[] = {"=", "!=", "<", "<=", ">", ">="};
    int level = expr_level(expr);
    switch (expr->kind)
    {
        case PD_EXPR_FIELD:
            pd_strbuf_append(buf, expr->field);
            break;
        case PD_EXPR_LITERAL:
            pd_model_append_literal(buf, &expr->literal);
            break;
        case PD_EXPR_COMPARE:
            append_expr(buf, expr->left);
            pd_strbuf_appendf(buf, " %s ", ops[expr->op]);
            append_expr(buf, expr->right);
            break;
        case PD_EXPR_IS_NULL:
        case PD_EXPR_IS_NOT_NULL:
            append_expr(buf, expr->left);
            pd_strbuf_append(buf, expr->kind == PD_EXPR_IS_NULL ? " is null" : " is not null");
            break;
        case PD_EXPR_NOT:
            pd_strbuf_append(buf, "not ");
            append_operand(buf, expr->left, level);
            break;
        case PD_EXPR_AND:
        case PD_EXPR_OR:
            append_operand(buf, expr->left, level);
            pd_strbuf_append(buf, expr->kind == PD_EXPR_AND ? " and " : " or ");
            append_operand(buf, expr->right, level + 1);
            break;
        case PD_EXPR_ARITH:
            append_operand(buf, expr->left, level);
            pd_strbuf_appendf(buf, expr->arith == '|' ? " || " : " %c ", expr->arith);
            append_operand(buf, expr->right, level + 1);
            break;
        case PD_EXPR_NEGATE:
            pd_strbuf_append(buf, "-");
            append_operand(buf, expr->left, level);
            break;
        case PD_EXPR_CALL:
            pd_strbuf_appendf(buf, "%s(", expr->function);
            for (size_t i = 0; i < expr->arg_count; i++)
            {
                pd_strbuf_append(buf, i > 0 ? ", " : "");
                append_expr(buf, expr->args[i]);
            }
            pd_strbuf_append_char(buf, ')');
            break;
    }
}

static void
append_who(PdStrbuf *buf, const char *side, const PdAccess *access)
{
    static const char *words[] = {"anyone", "authenticated", "none"};
    pd_strbuf_appendf(buf, " %s=", side);
    if (access->kind != PD_ACCESS_ROLES)
        pd_strbuf_append(buf, words[access->kind]);
    for (size_t i = 0; i < access->role_count; i++)
        pd_strbuf_appendf(buf, "%s%s", i > 0 ? "|" : "", access->roles[i]);
}

/* access only when it is not the default (anyone for both), so files without it format as before. */
static void
append_access(PdStrbuf *buf, const PdModel *model)
{
    bool has_read = model->read_access.kind != PD_ACCESS_ANYONE;
    bool has_write = model->write_access.kind != PD_ACCESS_ANYONE;
    if (!has_read && !has_write)
        return;
    pd_strbuf_append(buf, "  access");
    if (has_read)
        append_who(buf, "read", &model->read_access);
    if (has_write)
        append_who(buf, "write", &model->write_access);
    pd_strbuf_append_char(buf, '\n');
}

static void
append_directives(PdStrbuf *buf, const PdModel *model)
{
    if (model->key_field_count > 0)
    {
        pd_strbuf_append(buf, "  primary_key(");
        for (size_t i = 0; i < model->key_field_count; i++)
            pd_strbuf_appendf(buf, "%s%s", i > 0 ? ", " : "", model->key_fields[i]);
        pd_strbuf_append(buf, ")\n");
    }
    if (model->ordering_count > 0)
    {
        pd_strbuf_append(buf, "  ordering ");
        for (size_t i = 0; i < model->ordering_count; i++)
            pd_strbuf_appendf(buf, "%s%s%s", i > 0 ? ", " : "", model->ordering[i].is_descending ? "-" : "",
                              model->ordering[i].field);
        pd_strbuf_append_char(buf, '\n');
    }
    for (size_t i = 0; i < model->index_count; i++)
    {
        const PdIndex *index = &model->indexes[i];
        pd_strbuf_append(buf, index->is_unique ? "  unique(" : "  index(");
        for (size_t f = 0; f < index->field_count; f++)
        {
            const char *function = index->functions != NULL ? index->functions[f] : NULL;
            pd_strbuf_appendf(buf, "%s%s%s%s%s", f > 0 ? ", " : "", function != NULL ? function : "",
                              function != NULL ? "(" : "", index->fields[f], function != NULL ? ")" : "");
            if (index->opclasses != NULL && index->opclasses[f] != NULL)
                pd_strbuf_appendf(buf, " %s", index->opclasses[f]);
        }
        pd_strbuf_append_char(buf, ')');
        if (index->where != NULL)
        {
            pd_strbuf_append(buf, " where ");
            append_expr(buf, index->where);
        }
        pd_strbuf_append(buf, " name=");
        append_string(buf, index->name);
        pd_strbuf_append_char(buf, '\n');
    }
    for (size_t i = 0; i < model->check_count; i++)
    {
        pd_strbuf_append(buf, "  check(");
        append_expr(buf, model->checks[i].expr);
        pd_strbuf_append_char(buf, ')');
        if (model->checks[i].is_named) /* only when given: a derived name follows renames */
        {
            pd_strbuf_append(buf, " name=");
            append_string(buf, model->checks[i].name);
        }
        pd_strbuf_append_char(buf, '\n');
    }
    append_access(buf, model);
}

static void
append_model(PdStrbuf *buf, const PdModel *model)
{
    pd_strbuf_appendf(buf, "model %s {\n", model->name);
    if (model->renamed_from != NULL)
        pd_strbuf_appendf(buf, "  renamed_from %s\n", model->renamed_from);
    pd_strbuf_append(buf, "  table ");
    append_string(buf, model->table);
    pd_strbuf_append(buf, "\n  resource ");
    append_string(buf, model->resource);
    pd_strbuf_append_char(buf, '\n');
    if (model->comment != NULL)
    {
        pd_strbuf_append(buf, "  comment ");
        append_string(buf, model->comment);
        pd_strbuf_append_char(buf, '\n');
    }
    for (size_t i = 0; i < model->field_count; i++)
        if (model->fields[i].kind != PD_FIELD_AUTO)
            append_field(buf, &model->fields[i]);
    append_directives(buf, model);
    pd_strbuf_append(buf, "}\n");
}

bool
pd_model_format(PdArena *arena, const PdCatalog *catalog, char **text, PdError *err)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    pd_strbuf_append(&buf, "");
    for (size_t i = 0; i < catalog->model_count; i++)
    {
        if (i > 0)
            pd_strbuf_append_char(&buf, '\n');
        append_model(&buf, &catalog->models[i]);
    }
    if (pd_strbuf_failed(&buf) || pd_arena_failed(arena)) /* a type's text may have failed alone */
        return pd_arena_error(arena, err);
    *text = buf.data;
    return true;
}
