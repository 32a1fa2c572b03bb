/*
 * generated.c - the SQL of a generated field's expression, the X in
 * GENERATED ALWAYS AS (X) STORED, rendered from the tree the model checker
 * typed (src/model/generated.c): identifiers quoted, strings quoted, every
 * operation in parentheses, so nothing of the model file is pasted into SQL.
 *
 * An old field's expression is rendered in the columns its fields have now
 * (as checks.c does for conditions): PostgreSQL rewrites a stored expression
 * when a column it uses is renamed, so a rename alone changes no expression,
 * and the planner compares old and new expressions as text in the new names.
 */
#include <string.h>

#include "plan.h"

/* The model of ctx->to or ctx->from whose fields hold `field` (found by address); NULL for a stand-in. */
static const PdModel *
owner_of(const PlanContext *ctx, const PdField *field, bool *is_old)
{
    const PdCatalog *catalogs[2] = {ctx->to, ctx->from};
    for (int c = 0; c < 2; c++)
        for (size_t m = 0; catalogs[c] != NULL && m < catalogs[c]->model_count; m++)
        {
            const PdModel *model = &catalogs[c]->models[m];
            if (field >= model->fields && field < model->fields + model->field_count)
            {
                *is_old = c == 1;
                return model;
            }
        }
    return NULL;
}

/* The column of field `name` of owner; for an old model's field, the column of the field continuing it in
 * model (its own when dropped). */
static const char *
column_of(const PlanContext *ctx, const PdModel *owner, const PdModel *model, const char *name)
{
    const PdField *field = owner != NULL ? pd_model_find_field(owner, name) : NULL;
    if (field == NULL)
        return name;
    const PdField *now = model != NULL ? pd_plan_new_field_of(ctx, model, field) : NULL;
    return now != NULL ? now->column : field->column;
}

static void
render(const PlanContext *ctx, PdStrbuf *buf, const PdModel *owner, const PdModel *model, const PdExpr *expr)
{
    switch (expr->kind)
    {
        case PD_EXPR_FIELD:
            pd_strbuf_append_identifier(buf, column_of(ctx, owner, model, expr->field));
            break;
        case PD_EXPR_LITERAL:
            if (expr->literal.kind == PD_LITERAL_NULL)
                pd_strbuf_append(buf, "NULL");
            else if (expr->literal.kind == PD_LITERAL_BOOL)
                pd_strbuf_append(buf, strcmp(expr->literal.text, "true") == 0 ? "true" : "false");
            else if (expr->literal.kind == PD_LITERAL_NUMBER) /* the lexer's shape: -?digits[.digits][e..] */
                pd_strbuf_appendf(buf, expr->literal.text[0] == '-' ? "(%s)" : "%s", expr->literal.text);
            else
                pd_strbuf_append_literal(buf, expr->literal.text);
            break;
        case PD_EXPR_ARITH:
            pd_strbuf_append_char(buf, '(');
            render(ctx, buf, owner, model, expr->left);
            pd_strbuf_append(buf, expr->arith == '|'   ? " || "
                                  : expr->arith == '+' ? " + "
                                  : expr->arith == '-' ? " - "
                                  : expr->arith == '*' ? " * "
                                                       : " / ");
            render(ctx, buf, owner, model, expr->right);
            pd_strbuf_append_char(buf, ')');
            break;
        case PD_EXPR_NEGATE:
            pd_strbuf_append(buf, "(- ");
            render(ctx, buf, owner, model, expr->left);
            pd_strbuf_append_char(buf, ')');
            break;
        case PD_EXPR_CALL:
            /* The name is one of the checker's list (lower, upper, length, abs, round, coalesce). round(x, n)
             * exists for numeric only: a float column is cast. */
            pd_strbuf_appendf(buf, "%s(", expr->function);
            for (size_t i = 0; i < expr->arg_count; i++)
            {
                bool is_cast = i == 0 && expr->arg_count == 2 && strcmp(expr->function, "round") == 0;
                pd_strbuf_append(buf, i > 0 ? ", " : is_cast ? "CAST(" : "");
                render(ctx, buf, owner, model, expr->args[i]);
                pd_strbuf_append(buf, is_cast ? " AS numeric)" : "");
            }
            pd_strbuf_append_char(buf, ')');
            break;
        default: /* conditions are never a generated value (the checker refuses them) */
            break;
    }
}

const char *
pd_plan_generated_sql(PlanContext *ctx, const PdField *field)
{
    if (field->generated == NULL)
        return NULL;
    bool is_old = false;
    const PdModel *owner = owner_of(ctx, field, &is_old);
    const PdModel *model = is_old && owner != NULL ? pd_plan_new_model_of(ctx, owner) : NULL;
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append(&buf, "");
    render(ctx, &buf, owner, model, field->generated);
    return pd_strbuf_text(&buf);
}

bool
pd_plan_generated_uses(const PdExpr *expr, const char *field)
{
    if (expr == NULL)
        return false;
    if (expr->kind == PD_EXPR_FIELD)
        return strcmp(expr->field, field) == 0;
    for (size_t i = 0; expr->kind == PD_EXPR_CALL && i < expr->arg_count; i++)
        if (pd_plan_generated_uses(expr->args[i], field))
            return true;
    return pd_plan_generated_uses(expr->left, field) || pd_plan_generated_uses(expr->right, field);
}
